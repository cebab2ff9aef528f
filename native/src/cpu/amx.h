// What using AMX takes on Linux, for the code that runs its own tile loops (the peak measurement, the fused
// attention): the kernel's permission for the tile state, and the tile configuration they use.
#pragma once
#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace bert::amx {

/** Linux hands a process the AMX tile state only when asked (arch_prctl ARCH_REQ_XCOMP_PERM, XTILEDATA). */
inline bool granted() {
  constexpr int kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  static const bool ok = syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  return ok;
}

/** Palette 1: tiles 0-7 of 16 rows of 64 bytes (16 × 16 fp32, or 16 × 32 bf16). */
struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

}  // namespace bert::amx
#endif
