//===- TorchSupport.h - LibTorch helpers shared with other libraries -*- C++
//-*-===//
//
// For libraries built with LibTorch (kiln_add_torch_library) that run or
// inspect the same TorchScript files the importer reads (kiln-parity): the
// operator schemas real files need and the source position the importer
// gives a node, so that both sides name a node the same way.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_IMPORT_TORCHSCRIPT_TORCHSUPPORT_H
#define KILN_IMPORT_TORCHSCRIPT_TORCHSUPPORT_H

#include <optional>
#include <string>
#include <tuple>

namespace torch::jit {
struct Node;
} // namespace torch::jit

namespace kiln::torchscript {

/// Registers the schemas of operators that real files use and LibTorch 1.13
/// lacks (ExtraOps.cpp); idempotent, called before every load.
void registerExtraOperators();

/// Source location of a node (file, line, 1-based column), if it has a file.
std::optional<std::tuple<std::string, unsigned, unsigned>>
sourceOf(const torch::jit::Node *node);

/// Files under torch/ whose lines say nothing to the user (operator
/// wrappers, custom-op dispatch); the importer looks past them.
bool isTorchInternal(const std::string &file);

} // namespace kiln::torchscript

#endif // KILN_IMPORT_TORCHSCRIPT_TORCHSUPPORT_H
