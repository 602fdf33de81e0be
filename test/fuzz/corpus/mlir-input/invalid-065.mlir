// exit: positions cover the same tokens
func.func @f(%x: tensor<?x3x8xf32>, %p: tensor<?x4xi32>) {
  %l = ee.exit %x, %p exit 0 layer 1 branch block #ee.layer<num_heads = 2, num_kv_heads = 1, rms_norm_eps = 1.0e-05, rope_theta = 10000.0> temperature 1.0 weight #ee.loss_weight<init = 0.0, target = 0.5, warmup_iters = 0, style = linear> output(@emb) : tensor<?x3x8xf32>, tensor<?x4xi32> -> tensor<?x3x32xf32>
  return
}
