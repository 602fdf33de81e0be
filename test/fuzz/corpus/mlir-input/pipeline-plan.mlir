// A typed pipeline plan: stages with their functions, a tied weight, the 1F1B schedule.
module attributes {ee.pipeline = #ee.pipeline<seq_len = 8, micro_batch = 2, microbatches = 2,
    stages = [#ee.pipeline_stage<begin_layer = 0, end_layer = 1, exits = [0], embedding = true, final_head = false, flops_per_token = 1500000.0, parameter_bytes = 4096.0, activation_bytes = 0.25, loss_function = "stage0_loss", forward_function = "stage0_loss_fwd", backward_function = "stage0_loss_bwd">,
              #ee.pipeline_stage<begin_layer = 1, end_layer = 2, exits = [], embedding = false, final_head = true, flops_per_token = 1.0, parameter_bytes = 2.0, activation_bytes = 3.0, loss_function = "stage1_loss", heads = [0, 1], train_step = "stage1_train_step", grad_step = "stage1_grad_step", update_step = "stage1_update_step">],
    tied = [#ee.tied_parameter<parameter = "w", stages = [0, 1]>],
    schedule = #ee.pipeline_schedule<order = [["F0", "F1", "B0", "B1"], ["F0", "B0", "f2", "b2", "F1", "B1"]], bubble_fraction = 0.125, plain_bubble_fraction = 0.25, filled_microbatches = 1, makespan_flops = 1000000000.0>>} {
}
