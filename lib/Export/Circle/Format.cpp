//===- Format.cpp - Circle/TFLite file format helpers ---------------------===//
#include "kiln/Export/Circle/Format.h"

#include "llvm/ADT/StringSwitch.h"

using namespace kiln::circle;

llvm::StringRef kiln::circle::stringifyFlavor(Flavor flavor) {
  return flavor == Flavor::Circle ? "circle" : "tflite";
}

std::optional<Flavor> kiln::circle::parseFlavor(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<Flavor>>(name)
      .Case("circle", Flavor::Circle)
      .Case("tflite", Flavor::TFLite)
      .Default(std::nullopt);
}

llvm::StringRef kiln::circle::getFileIdentifier(Flavor flavor) {
  return flavor == Flavor::Circle ? "CIR0" : "TFL3";
}

std::optional<Flavor>
kiln::circle::getFlavorFromIdentifier(llvm::StringRef id) {
  if (id == "CIR0")
    return Flavor::Circle;
  if (id == "TFL3")
    return Flavor::TFLite;
  return std::nullopt;
}

uint32_t kiln::circle::getModelVersion(Flavor flavor) {
  return flavor == Flavor::Circle ? 0 : 3;
}

std::vector<uint8_t> kiln::circle::packInt4(llvm::ArrayRef<uint8_t> values) {
  std::vector<uint8_t> packed(getPackedInt4Size(values.size()), 0);
  for (size_t i = 0, e = values.size(); i < e; ++i) {
    uint8_t nibble = values[i] & 0x0F;
    packed[i / 2] |= (i % 2 == 0) ? nibble : static_cast<uint8_t>(nibble << 4);
  }
  return packed;
}

std::vector<uint8_t> kiln::circle::unpackInt4(llvm::ArrayRef<uint8_t> packed,
                                              uint64_t count, bool isSigned) {
  std::vector<uint8_t> values(count);
  for (uint64_t i = 0; i < count && i / 2 < packed.size(); ++i) {
    uint8_t nibble =
        (i % 2 == 0) ? (packed[i / 2] & 0x0F) : (packed[i / 2] >> 4);
    if (isSigned && (nibble & 0x08))
      nibble |= 0xF0;
    values[i] = nibble;
  }
  return values;
}

int8_t kiln::circle::getDeprecatedBuiltinCode(int32_t builtinCode) {
  return builtinCode < 127 ? static_cast<int8_t>(builtinCode) : 127;
}

int32_t kiln::circle::getEffectiveBuiltinCode(int8_t deprecatedCode,
                                              int32_t builtinCode) {
  return deprecatedCode != 127 ? deprecatedCode : builtinCode;
}
