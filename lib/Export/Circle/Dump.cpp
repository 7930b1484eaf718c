//===- Dump.cpp - Human-readable dump of a Circle / TFLite file -----------===//
//
//   circle model: identifier CIR0, version 0, description "Kiln 0.1.0"
//   operator_codes: 2
//     opcode #0 FULLY_CONNECTED (9) version 5 deprecated_builtin_code 9
//   buffers: 3
//     buffer #1 inline 2048 bytes at offset 160 (16-aligned)
//   subgraph #0 "prefill": 4 tensors, 1 operators, inputs [0], outputs [3]
//     tensor #1 "w" INT8 [32, 64] buffer 1 quant scale [0.5, ...] zero_point
//     [0, ...] dimension 0 op #0 FULLY_CONNECTED v5 inputs [0, 1, -1] outputs
//     [3] FullyConnectedOptions {keep_num_dims: true, ...}
//   signature "prefill" subgraph 0
//     input "x" tensor 0
//   metadata: 1
//     metadata "kiln.version" buffer 4 "0.1.0"
//
//===----------------------------------------------------------------------===//
#include "kiln/Export/Circle/Locations.h"
#include "kiln/Export/Circle/Reader.h"

#include "ModelFile.h"
#include "OpTable.h"

#include "llvm/Support/Format.h"

using namespace mlir;
using namespace kiln::circle;

namespace {

constexpr size_t kMaxListed = 16;

template <typename T, typename Fn>
void printList(llvm::raw_ostream &os, const flatbuffers::Vector<T> *v,
               Fn print) {
  os << '[';
  if (v)
    for (size_t i = 0, e = v->size(); i < e; ++i) {
      if (i == kMaxListed) {
        os << ", ... (" << e << " in all)";
        break;
      }
      if (i)
        os << ", ";
      print(v->Get(i));
    }
  os << ']';
}

void printInts(llvm::raw_ostream &os, const flatbuffers::Vector<int32_t> *v) {
  printList(os, v, [&](int32_t x) { os << x; });
}

void printFloat(llvm::raw_ostream &os, float f) {
  os << llvm::format("%.8g", f);
}

const char *boolName(bool b) { return b ? "true" : "false"; }

void printOptions(llvm::raw_ostream &os, const fb::Operator *op) {
  using BO = fb::BuiltinOptions;
  BO type = op->builtin_options_type();
  if (type == BO::NONE)
    return;
  const char *name = fb::EnumNameBuiltinOptions(type);
  os << ' ' << (name && *name ? name : "BuiltinOptions") << " {";
  // A union type without its table (the verifier allows an absent value):
  // nothing to print, and every builtin_options_as_*() below is null.
  if (!op->builtin_options()) {
    os << "absent}";
    return;
  }
  auto act = [](fb::ActivationFunctionType a) {
    const char *n = fb::EnumNameActivationFunctionType(a);
    return n && *n ? n : "?";
  };
  switch (type) {
  case BO::FullyConnectedOptions: {
    auto *o = op->builtin_options_as_FullyConnectedOptions();
    const char *format =
        fb::EnumNameFullyConnectedOptionsWeightsFormat(o->weights_format());
    os << "fused_activation_function: " << act(o->fused_activation_function())
       << ", weights_format: " << (format && *format ? format : "?")
       << ", keep_num_dims: " << boolName(o->keep_num_dims())
       << ", asymmetric_quantize_inputs: "
       << boolName(o->asymmetric_quantize_inputs());
    break;
  }
  case BO::SoftmaxOptions:
    os << "beta: ";
    printFloat(os, op->builtin_options_as_SoftmaxOptions()->beta());
    break;
  case BO::ConcatenationOptions: {
    auto *o = op->builtin_options_as_ConcatenationOptions();
    os << "axis: " << o->axis() << ", fused_activation_function: "
       << act(o->fused_activation_function());
    break;
  }
  case BO::AddOptions: {
    auto *o = op->builtin_options_as_AddOptions();
    os << "fused_activation_function: " << act(o->fused_activation_function())
       << ", pot_scale_int16: " << boolName(o->pot_scale_int16());
    break;
  }
  case BO::SubOptions: {
    auto *o = op->builtin_options_as_SubOptions();
    os << "fused_activation_function: " << act(o->fused_activation_function())
       << ", pot_scale_int16: " << boolName(o->pot_scale_int16());
    break;
  }
  case BO::MulOptions:
    os << "fused_activation_function: "
       << act(op->builtin_options_as_MulOptions()->fused_activation_function());
    break;
  case BO::DivOptions:
    os << "fused_activation_function: "
       << act(op->builtin_options_as_DivOptions()->fused_activation_function());
    break;
  case BO::ReshapeOptions:
    os << "new_shape: ";
    printInts(os, op->builtin_options_as_ReshapeOptions()->new_shape());
    break;
  case BO::GatherOptions: {
    auto *o = op->builtin_options_as_GatherOptions();
    os << "axis: " << o->axis() << ", batch_dims: " << o->batch_dims();
    break;
  }
  case BO::ReducerOptions:
    os << "keep_dims: "
       << boolName(op->builtin_options_as_ReducerOptions()->keep_dims());
    break;
  case BO::StridedSliceOptions: {
    auto *o = op->builtin_options_as_StridedSliceOptions();
    os << "begin_mask: " << o->begin_mask() << ", end_mask: " << o->end_mask()
       << ", ellipsis_mask: " << o->ellipsis_mask()
       << ", new_axis_mask: " << o->new_axis_mask()
       << ", shrink_axis_mask: " << o->shrink_axis_mask()
       << ", offset: " << boolName(o->offset());
    break;
  }
  case BO::CastOptions: {
    auto *o = op->builtin_options_as_CastOptions();
    os << "in_data_type: "
       << getTensorTypeName(static_cast<int8_t>(o->in_data_type()))
       << ", out_data_type: "
       << getTensorTypeName(static_cast<int8_t>(o->out_data_type()));
    break;
  }
  case BO::BatchMatMulOptions: {
    auto *o = op->builtin_options_as_BatchMatMulOptions();
    os << "adjoint_lhs: " << boolName(o->adjoint_lhs())
       << ", adjoint_rhs: " << boolName(o->adjoint_rhs())
       << ", asymmetric_quantize_inputs: "
       << boolName(o->asymmetric_quantize_inputs());
    break;
  }
  case BO::RmsNormOptions:
    os << "epsilon: ";
    printFloat(os, op->builtin_options_as_RmsNormOptions()->epsilon());
    break;
  case BO::RoPEOptions: {
    const char *mode =
        fb::EnumNameRoPEMode(op->builtin_options_as_RoPEOptions()->mode());
    os << "mode: " << (mode && *mode ? mode : "?");
    break;
  }
  default:
    break; // tables without fields
  }
  os << '}';
}

void printQuoted(llvm::raw_ostream &os, const flatbuffers::String *s) {
  os << '"';
  if (s)
    os.write_escaped(s->string_view());
  os << '"';
}

} // namespace

LogicalResult kiln::circle::dumpCircle(llvm::StringRef bytes,
                                       llvm::raw_ostream &os,
                                       MLIRContext *context, Location loc) {
  FailureOr<ModelFile> opened = ModelFile::open(bytes, loc);
  if (failed(opened))
    return failure();
  const ModelFile &file = *opened;
  const fb::Model *model = file.model;

  os << stringifyFlavor(file.flavor) << " model: identifier "
     << getFileIdentifier(file.flavor) << ", version " << model->version()
     << ", description ";
  printQuoted(os, model->description());
  os << ", " << bytes.size() << " bytes\n";

  auto *opcodes = model->operator_codes();
  os << "operator_codes: " << (opcodes ? opcodes->size() : 0) << '\n';
  if (opcodes)
    for (auto [i, code] : llvm::enumerate(*opcodes)) {
      int32_t effective =
          getEffectiveBuiltinCode(code->deprecated_builtin_code(),
                                  static_cast<int32_t>(code->builtin_code()));
      os << "  opcode #" << i << ' ' << getBuiltinName(effective) << " ("
         << effective << ") version " << code->version()
         << " deprecated_builtin_code "
         << static_cast<int>(code->deprecated_builtin_code())
         << " builtin_code " << static_cast<int32_t>(code->builtin_code())
         << '\n';
    }

  auto *buffers = model->buffers();
  os << "buffers: " << (buffers ? buffers->size() : 0) << '\n';
  if (buffers)
    for (auto [i, buffer] : llvm::enumerate(*buffers)) {
      os << "  buffer #" << i << ' ';
      uint64_t offset, size;
      if (buffer->offset() > 1) {
        offset = buffer->offset();
        size = buffer->size();
        os << "external " << size << " bytes at offset " << offset;
      } else if (buffer->data()) {
        offset = file.getFileOffset(buffer->data()->data());
        size = buffer->data()->size();
        os << "inline " << size << " bytes at offset " << offset;
      } else {
        os << "empty\n";
        continue;
      }
      os << (offset % kBufferAlignment == 0 ? " (16-aligned)"
                                            : " (NOT 16-aligned)");
      if (offset > bytes.size() || size > bytes.size() - offset)
        os << " (PAST THE END OF THE FILE)";
      os << '\n';
    }

  auto *subgraphs = model->subgraphs();
  if (subgraphs)
    for (auto [s, sg] : llvm::enumerate(*subgraphs)) {
      auto *tensors = sg->tensors();
      auto *operators = sg->operators();
      os << "subgraph #" << s << ' ';
      printQuoted(os, sg->name());
      os << ": " << (tensors ? tensors->size() : 0) << " tensors, "
         << (operators ? operators->size() : 0) << " operators, inputs ";
      printInts(os, sg->inputs());
      os << ", outputs ";
      printInts(os, sg->outputs());
      os << '\n';
      if (tensors)
        for (auto [t, tensor] : llvm::enumerate(*tensors)) {
          os << "  tensor #" << t << ' ';
          printQuoted(os, tensor->name());
          os << ' ' << getTensorTypeName(static_cast<int8_t>(tensor->type()))
             << ' ';
          printInts(os, tensor->shape());
          if (tensor->shape_signature()) {
            os << " shape_signature ";
            printInts(os, tensor->shape_signature());
          }
          if (tensor->buffer())
            os << " buffer " << tensor->buffer();
          if (auto *q = tensor->quantization()) {
            os << " quant scale ";
            printList(os, q->scale(), [&](float f) { printFloat(os, f); });
            os << " zero_point ";
            printList(os, q->zero_point(), [&](int64_t z) { os << z; });
            os << " dimension " << q->quantized_dimension();
          }
          os << '\n';
        }
      if (operators)
        for (auto [k, op] : llvm::enumerate(*operators)) {
          os << "  op #" << k << ' ';
          if (opcodes && op->opcode_index() < opcodes->size()) {
            const fb::OperatorCode *code = opcodes->Get(op->opcode_index());
            os << getBuiltinName(getEffectiveBuiltinCode(
                      code->deprecated_builtin_code(),
                      static_cast<int32_t>(code->builtin_code())))
               << " v" << code->version();
          } else {
            os << "<bad opcode index " << op->opcode_index() << '>';
          }
          os << " inputs ";
          printInts(os, op->inputs());
          os << " outputs ";
          printInts(os, op->outputs());
          printOptions(os, op);
          os << '\n';
        }
    }

  if (auto *signatures = model->signature_defs())
    for (const fb::SignatureDef *sig : *signatures) {
      os << "signature ";
      printQuoted(os, sig->signature_key());
      os << " subgraph " << sig->subgraph_index() << '\n';
      for (auto [kind, maps] : {std::make_pair("input", sig->inputs()),
                                std::make_pair("output", sig->outputs())})
        if (maps)
          for (const fb::TensorMap *m : *maps) {
            os << "  " << kind << ' ';
            printQuoted(os, m->name());
            os << " tensor " << m->tensor_index() << '\n';
          }
    }

  auto *metadata = model->metadata();
  os << "metadata: " << (metadata ? metadata->size() : 0) << '\n';
  if (metadata)
    for (const fb::Metadata *entry : *metadata) {
      os << "  metadata ";
      printQuoted(os, entry->name());
      os << " buffer " << entry->buffer() << ' ';
      FailureOr<llvm::ArrayRef<uint8_t>> data =
          file.getBufferData(entry->buffer(), loc);
      if (failed(data))
        return failure();
      bool printable =
          llvm::all_of(*data, [](uint8_t c) { return c >= 32 && c < 127; });
      // Source locations are long and for tools (kiln-parity): their size.
      if (entry->name() && entry->name()->str() == kLocationsMetadata) {
        os << "(source locations, " << data->size() << " bytes)\n";
        continue;
      }
      if (printable) {
        os << '"';
        os.write_escaped(llvm::StringRef(
            reinterpret_cast<const char *>(data->data()), data->size()));
        os << '"';
      } else {
        os << data->size() << " bytes";
      }
      os << '\n';
    }
  return success();
}
