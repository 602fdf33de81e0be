// config: epsilon must be positive
module attributes {ee.config = #ee.config<vocab_size = 32, hidden_size = 8, intermediate_size = 16, num_hidden_layers = 2, num_attention_heads = 2, num_key_value_heads = 1, max_position_embeddings = 64, rms_norm_eps = 0.0, rope_theta = 10000.0, tie_word_embeddings = true>} {}
