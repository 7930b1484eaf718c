# make_tied.py OUT.pt [PRESET]: a kiln_torch whole model (w8a16) whose lm_head
# shares its weight with embed_tokens (tie_word_embeddings, as Llama-3.2),
# saved with save_torchscript: the .pt holds the table once.
import sys

import torch
from kiln_torch import (build_model, calibrate, convert, get_config, prepare,
                        random_token_batches, save_torchscript)

out = sys.argv[1]
preset = sys.argv[2] if len(sys.argv) > 2 else "tiny"
config = get_config(preset, tie_word_embeddings=True)
model = build_model(config, seed=0)
assert model.lm_head.weight is model.model.embed_tokens.weight
prepare(model, "w8a16")
with torch.no_grad():
    calibrate(model, random_token_batches(config, 2, 1, 8, seed=1), 1)
    convert(model)
save_torchscript(model, out)
loaded = torch.jit.load(out)
print("tied:", loaded.lm_head.weight.data_ptr() == loaded.model.embed_tokens.weight.data_ptr(),
      "vocab", config.vocab_size, "hidden", config.hidden_size)
