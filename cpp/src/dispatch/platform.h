// Everything that differs between operating systems, compilers and CPU families, behind a few
// functions defined in one file (platform.cc): CPU identification, aligned and large
// allocations, the floating-point mode and the spin-wait hint. The rest of the kernel is
// plain C++17 and compiles unchanged for Linux (GCC, Clang), Windows (MinGW-w64, MSVC) and
// macOS. platform.cc is compiled without ISA flags.
#pragma once

#include <cstddef>

namespace cellstate {
namespace platform {

// CPUID leaf/subleaf into r = {eax, ebx, ecx, edx}; false when the leaf does not exist or the
// CPU is not x86.
bool Cpuid(unsigned leaf, unsigned subleaf, unsigned r[4]);
// XCR0, the register state the OS saves on a context switch (XGETBV 0). Only meaningful when
// CPUID.1:ECX.OSXSAVE is set; 0 on other CPUs.
unsigned long long Xcr0();
// The OS reports the Armv8.2 dot-product instructions (sdot/udot); false on other CPUs.
bool CpuHasArmDotProd();

// `bytes` (0 allowed) aligned to `align`, a power of two of at least sizeof(void*); nullptr
// when out of memory. Freed with AlignedFree.
void* AlignedAlloc(size_t bytes, size_t align);
void AlignedFree(void* p) noexcept;

// A large block of `bytes`, aligned to at least 4 KiB, for workspaces and packed weights:
// on Linux its own 2 MiB-aligned mapping advised MADV_HUGEPAGE (transparent huge pages, so
// passes over hundreds of MiB do not stall on TLB misses); on Windows a VirtualAlloc region
// (large pages need a privilege that processes lack by default, so they are not asked for);
// elsewhere the aligned heap. nullptr when out of memory. Freed with LargeFree(p, bytes).
void* LargeAlloc(size_t bytes);
void LargeFree(void* p, size_t bytes) noexcept;

// Flush-to-zero and denormals-are-zero on the calling thread (x86 MXCSR FTZ|DAZ, aarch64 FPCR
// FZ); returns the previous mode for RestoreFloatMode. No effect on other CPUs.
unsigned long FlushDenormals();
void RestoreFloatMode(unsigned long saved);

// The spin-wait hint (x86 PAUSE, aarch64 YIELD) inside busy-wait loops.
void CpuRelax();

}  // namespace platform
}  // namespace cellstate
