module {
  func.func @communication(%y: tensor<?x?x8xf32>, %g: tensor<32x8xf32>, %flat: tensor<256xf32>,
                           %b: index, %s: index)
      -> (tensor<?x?x8xf32>, tensor<32x8xf32>, tensor<32x8xf32>, tensor<256xf32>) {
    %sent = ee.send %y to 1 tag 0 : tensor<?x?x8xf32> -> !ee.request
    %in = ee.recv from -1 tag 3 shape(%b, %s) : !ee.request<tensor<?x?x8xf32>>
    %sum = ee.all_reduce_start %g over dp : tensor<32x8xf32> -> !ee.request<tensor<32x8xf32>>
    %tied = ee.all_reduce_start %g over tied(@model.embed_tokens.weight)
        : tensor<32x8xf32> -> !ee.request<tensor<32x8xf32>>
    %blocks = ee.reduce_scatter_start %flat over dp : tensor<256xf32> -> !ee.request<tensor<?xf32>>
    %x = ee.wait %in : !ee.request<tensor<?x?x8xf32>> -> tensor<?x?x8xf32>
    %summed = ee.wait %sum : !ee.request<tensor<32x8xf32>> -> tensor<32x8xf32>
    %shared = ee.wait %tied : !ee.request<tensor<32x8xf32>> -> tensor<32x8xf32>
    %block = ee.wait %blocks : !ee.request<tensor<?xf32>> -> tensor<?xf32>
    %gather = ee.all_gather_start %block over tp : tensor<?xf32> -> !ee.request<tensor<256xf32>>
    %whole = ee.wait %gather : !ee.request<tensor<256xf32>> -> tensor<256xf32>
    ee.wait %sent : !ee.request
    return %x, %summed, %shared, %whole : tensor<?x?x8xf32>, tensor<32x8xf32>, tensor<32x8xf32>, tensor<256xf32>
  }

}
