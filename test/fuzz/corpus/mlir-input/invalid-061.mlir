// exit: an MLP exit is post-exit
func.func @f(%x: tensor<?x?x8xf32>) {
  %l = ee.exit %x exit 0 layer 1 pre_exit branch mlp #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<?x?x8xf32> -> tensor<?x?x32xf32>
  return
}
