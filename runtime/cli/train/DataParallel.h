// DataParallel.h - the data-parallel group of the ranks launched together
// (mpirun): averaging gradients and gathering sharded optimizer state.
#ifndef EERT_CLI_DATAPARALLEL_H
#define EERT_CLI_DATAPARALLEL_H

#include "eert/eert.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace eert {

/// Group 3 of the runtime's grid (see abi.def): the ranks holding the same
/// model slice and different samples.
class DataParallel {
public:
  static constexpr int64_t kGroup = 3;

  /// Joins the grid of the binary's layout (`tensorParallel` ranks per
  /// stage, `pipelineStages` stages): DP = world size / (TP * PP) replicas.
  static DataParallel join(int64_t pipelineStages, int64_t tensorParallel) {
    if (eert_comm_grid(tensorParallel, pipelineStages))
      throw std::runtime_error(std::string(eert_last_error()) + "; this binary trains with TP = " +
                               std::to_string(tensorParallel) + " (ee-compile --tp) and PP = " +
                               std::to_string(pipelineStages) + " (ee-compile --pp)");
    return DataParallel(eert_comm_group_size(kGroup), eert_comm_group_rank(kGroup));
  }

  int64_t size() const { return size_; }
  int64_t rank() const { return rank_; }

  /// In place: the sum over the replicas, reduced `bucket` elements at a time.
  void sum(float *data, int64_t count, int64_t bucket) const {
    for (int64_t start = 0; start < count && size_ > 1; start += bucket)
      check(eert_comm_all_reduce(data + start, std::min(bucket, count - start), kGroup));
  }

  /// ZeRO-1's block of an n-element tensor held by this replica (abi.def:
  /// eert_comm_ireduce_scatter): elements [begin, begin + count).
  struct Block {
    int64_t begin, count;
  };
  Block block(int64_t n) const {
    int64_t c = (n + size_ - 1) / size_, begin = std::min(n, rank_ * c);
    return {begin, std::min(n, begin + c) - begin};
  }

  /// In place: every replica's block of `data` (n floats) to every replica.
  void gatherBlocks(float *data, int64_t n) const {
    uint64_t request = 0;
    check(eert_comm_iall_gather(data, n, kGroup, &request));
    check(eert_comm_wait(&request));
  }

  /// The sum over the replicas of one number.
  double sum(double value) const {
    float x = static_cast<float>(value);
    if (size_ > 1)
      check(eert_comm_all_reduce(&x, 1, kGroup));
    return size_ > 1 ? x : value;
  }

private:
  DataParallel(int64_t size, int64_t rank) : size_(size), rank_(rank) {}
  static void check(int32_t status) {
    if (status)
      throw std::runtime_error(std::string("data-parallel communication failed: ") +
                               eert_last_error());
  }
  int64_t size_, rank_;
};

} // namespace eert

#endif // EERT_CLI_DATAPARALLEL_H
