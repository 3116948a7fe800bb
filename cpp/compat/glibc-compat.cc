// Keeps the addon loadable on old glibc (>= 2.17) although it is built against Debian 12's 2.36.
//
// Linked into cellstate.node only (CMake option CELLSTATE_GLIBC_COMPAT, Linux glibc on x86-64
// and aarch64). The linker is given --wrap=NAME for every NAME below, so each reference to NAME
// in the addon, its static libstdc++ and its libgcc_eh becomes a reference to __wrap_NAME,
// defined here (hidden) as one of:
//   - a call to the oldest version of the same function (`.symver` binds the reference to
//     NAME@GLIBC_2.2.5 on x86-64, NAME@GLIBC_2.17 on aarch64): pthread_* (moved from
//     libpthread into libc in 2.34, which gave them new versions), exp (2.29), expf (2.27),
//     memcpy (2.14);
//   - a small replacement for a function old glibc lacks: _dl_find_object (2.35, used by the
//     unwinder to find the .eh_frame_hdr of a PC; done with dl_iterate_phdr, as GCC < 12 did),
//     getentropy (2.25) and arc4random (2.36) (reached only through std::random_device, which
//     cellstate does not use; done with the getrandom system call);
//   - __libc_single_threaded (2.32), read by libstdc++ to skip atomics: always 0 here (not
//     single-threaded), which is what libstdc++ assumed before 2.32.
// scripts/check-binary.mjs fails the build when a GLIBC_ version above the floor creeps back in
// (a new libm function, a new libstdc++ member): add its wrapper here and its name in
// CMakeLists.txt.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#if defined(__linux__)
#include <features.h>  // defines __GLIBC__ on glibc
#endif
#if defined(__linux__) && defined(__GLIBC__) && (defined(__x86_64__) || defined(__aarch64__))

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define CELLSTATE_GLIBC_BASE "GLIBC_2.2.5"
#else
#define CELLSTATE_GLIBC_BASE "GLIBC_2.17"
#endif

// Declares cellstate_old_NAME, bound to NAME@<base version>, and defines __wrap_NAME calling it.
#define CELLSTATE_OLD_VERSION(ret, name, params, args)                         \
  extern "C" ret cellstate_old_##name params;                                  \
  __asm__(".symver cellstate_old_" #name ", " #name "@" CELLSTATE_GLIBC_BASE); \
  extern "C" __attribute__((visibility("hidden"))) ret __wrap_##name params {  \
    return cellstate_old_##name args;                                          \
  }

extern "C" int __pthread_key_create(pthread_key_t*, void (*)(void*));

CELLSTATE_OLD_VERSION(int, pthread_create,
                      (pthread_t * t, const pthread_attr_t* a, void* (*f)(void*), void* arg),
                      (t, a, f, arg))
CELLSTATE_OLD_VERSION(int, pthread_join, (pthread_t t, void** r), (t, r))
CELLSTATE_OLD_VERSION(int, pthread_detach, (pthread_t t), (t))
CELLSTATE_OLD_VERSION(int, pthread_once, (pthread_once_t * o, void (*f)(void)), (o, f))
CELLSTATE_OLD_VERSION(int, pthread_key_create, (pthread_key_t * k, void (*d)(void*)), (k, d))
CELLSTATE_OLD_VERSION(int, __pthread_key_create, (pthread_key_t * k, void (*d)(void*)), (k, d))
CELLSTATE_OLD_VERSION(int, pthread_key_delete, (pthread_key_t k), (k))
CELLSTATE_OLD_VERSION(void*, pthread_getspecific, (pthread_key_t k), (k))
CELLSTATE_OLD_VERSION(int, pthread_setspecific, (pthread_key_t k, const void* v), (k, v))
CELLSTATE_OLD_VERSION(int, pthread_mutex_trylock, (pthread_mutex_t * m), (m))
CELLSTATE_OLD_VERSION(double, exp, (double x), (x))
CELLSTATE_OLD_VERSION(float, expf, (float x), (x))
CELLSTATE_OLD_VERSION(void*, memcpy, (void* d, const void* s, size_t n), (d, s, n))

extern "C" {
__attribute__((visibility("hidden"))) char __wrap___libc_single_threaded = 0;
}

namespace {

struct FindObject {
  uintptr_t pc;
  uintptr_t map_start;
  uintptr_t map_end;
  void* eh_frame;
  bool found;
};

int FindObjectCallback(struct dl_phdr_info* info, size_t, void* data) {
  FindObject* f = static_cast<FindObject*>(data);
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  bool inside = false;
  void* eh_frame = nullptr;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD) {
      const uintptr_t end = start + ph.p_memsz;
      if (start < lo) lo = start;
      if (end > hi) hi = end;
      if (f->pc >= start && f->pc < end) inside = true;
    } else if (ph.p_type == PT_GNU_EH_FRAME) {
      eh_frame = reinterpret_cast<void*>(start);
    }
  }
  if (!inside) return 0;
  f->map_start = lo;
  f->map_end = hi;
  f->eh_frame = eh_frame;
  f->found = true;
  return 1;
}

// Fills buf with n random bytes from the kernel; false (errno set) when it cannot.
bool KernelRandom(void* buf, size_t n) {
  unsigned char* p = static_cast<unsigned char*>(buf);
  while (n > 0) {
    const long got = syscall(SYS_getrandom, p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno != ENOSYS) return false;
      // Linux < 3.17: no getrandom.
      const int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
      if (fd < 0) return false;
      while (n > 0) {
        const ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
          close(fd);
          if (r == 0) errno = EIO;
          return false;
        }
        p += r;
        n -= static_cast<size_t>(r);
      }
      close(fd);
      return true;
    }
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

}  // namespace

#if defined(DLFO_STRUCT_HAS_EH_DBASE)
// libgcc_eh's _Unwind_Find_FDE only reads dlfo_eh_frame (and dlfo_eh_dbase, which is null on
// x86-64 and aarch64); dlfo_link_map stays null.
extern "C" __attribute__((visibility("hidden"))) int __wrap__dl_find_object(
    void* pc, struct dl_find_object* out) {
  FindObject f = {reinterpret_cast<uintptr_t>(pc), 0, 0, nullptr, false};
  dl_iterate_phdr(FindObjectCallback, &f);
  if (!f.found) return -1;
  memset(out, 0, sizeof(*out));
  out->dlfo_map_start = reinterpret_cast<void*>(f.map_start);
  out->dlfo_map_end = reinterpret_cast<void*>(f.map_end);
  out->dlfo_eh_frame = f.eh_frame;
  return 0;
}
#endif

extern "C" __attribute__((visibility("hidden"))) int __wrap_getentropy(void* buf, size_t n) {
  if (n > 256) {
    errno = EIO;
    return -1;
  }
  return KernelRandom(buf, n) ? 0 : -1;
}

extern "C" __attribute__((visibility("hidden"))) uint32_t __wrap_arc4random(void) {
  uint32_t v = 0;
  // arc4random has no error return; glibc's aborts when the kernel gives no randomness.
  if (!KernelRandom(&v, sizeof(v))) abort();
  return v;
}

#endif
