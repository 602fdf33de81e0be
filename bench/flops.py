"""Training FLOPs and weight bytes per token of a Llama-style early-exit config (the benchmarks' MFU and bounds)."""


def layer_weights(config):
    """Weights of one decoder layer's products (q, k, v, o and the SwiGLU MLP)."""
    h, f = config["hidden_size"], config["intermediate_size"]
    kv = (config.get("num_key_value_heads") or config["num_attention_heads"]) * h // config["num_attention_heads"]
    return 2 * h * h + 2 * kv * h + 3 * h * f


def heads(config, with_exits=True):
    """Output heads computed per token: the final one and, with_exits, one per exit."""
    return 1 + (len(config.get("early_exit", {}).get("exit_layer_nums", [])) if with_exits else 0)


def matmul_flops_per_token(config, with_exits=True):
    """Training FLOPs per token: 6 per weight of every matmul (forward + backward)."""
    return 6 * (config["num_hidden_layers"] * layer_weights(config)
                + heads(config, with_exits) * config["vocab_size"] * config["hidden_size"])


def attention_flops_per_token(config, seq):
    """Causal attention scores and values, forward and backward (12 * layers * hidden * seq / 2)."""
    return 12 * config["num_hidden_layers"] * config["hidden_size"] * seq // 2
