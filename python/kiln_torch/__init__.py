"""kiln_torch: quantized Llama models in PyTorch, saved as TorchScript for Kiln."""
