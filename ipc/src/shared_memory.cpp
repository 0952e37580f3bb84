#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <utility>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/shared_memory.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit {
namespace {

constexpr const char* kDevShm = "/dev/shm";
// How long an opener waits for a concurrent creator to size a new segment
// (shm_open and ftruncate are two calls; the gap is microseconds).
constexpr auto kSizeSettleTimeout = std::chrono::seconds(1);

std::string human_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  auto value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(units)) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return text;
}

std::uint64_t mem_available_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

// Refuses a size the backing store cannot hold: past it, the first touch of
// an unbacked page raises SIGBUS instead of an error anyone can handle.
void check_fits(std::size_t size, bool named, std::string_view what) {
  if (size == 0) {
    throw_invalid_argument(std::string(what) + ": size must be > 0 (got 0)");
  }
  const ShmCapacity capacity = shm_capacity();
  if (named && size > capacity.dev_shm_free_bytes) {
    throw_system_error(ENOSPC, std::string(what) + ": " + human_bytes(size) +
                                   " does not fit in /dev/shm (" +
                                   human_bytes(capacity.dev_shm_free_bytes) + " free)");
  }
  if (size > capacity.mem_available_bytes) {
    throw_system_error(ENOMEM, std::string(what) + ": " + human_bytes(size) +
                                   " does not fit in memory (MemAvailable " +
                                   human_bytes(capacity.mem_available_bytes) + ")");
  }
}

std::byte* map_fd(int fd, std::size_t size, Access access, const std::string& what) {
  const int prot = access == Access::kReadOnly ? PROT_READ : PROT_READ | PROT_WRITE;
  void* address = ::mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (address == MAP_FAILED) throw_errno("mmap " + what);
  return static_cast<std::byte*>(address);
}

// Closes a descriptor on every path out of a scope.
class FdGuard {
 public:
  explicit FdGuard(int fd) noexcept : fd_(fd) {}
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

// The segment's size once its creator has sized it.
std::size_t settled_size(int fd, const std::string& name) {
  const auto give_up = std::chrono::steady_clock::now() + kSizeSettleTimeout;
  for (;;) {
    struct stat info {};
    if (::fstat(fd, &info) != 0) throw_errno("fstat " + name);
    if (info.st_size > 0) return static_cast<std::size_t>(info.st_size);
    if (std::chrono::steady_clock::now() > give_up) {
      throw_system_error(EINVAL, "shm_open " + name + ": segment still has size 0 after 1 s "
                                 "(its creator died before sizing it?)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

ShmCapacity shm_capacity() {
  ShmCapacity capacity{0, mem_available_bytes()};
  struct statvfs fs {};
  if (::statvfs(kDevShm, &fs) == 0) {
    capacity.dev_shm_free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  }
  return capacity;
}

SharedMemory::SharedMemory(std::byte* data, std::size_t size, std::optional<SegmentName> name,
                           pid_t creator_pid, Access access) noexcept
    : data_(data), size_(size), name_(std::move(name)), creator_pid_(creator_pid), access_(access) {}

SharedMemory SharedMemory::anonymous(std::size_t size) {
  check_fits(size, /*named=*/false, "SharedMemory::anonymous");
  void* address = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (address == MAP_FAILED) {
    throw_errno("mmap MAP_SHARED|MAP_ANONYMOUS " + std::to_string(size) + " bytes");
  }
  return SharedMemory(static_cast<std::byte*>(address), size, std::nullopt, 0, Access::kReadWrite);
}

SharedMemory SharedMemory::named(CreateOnly, const SegmentName& name, std::size_t size) {
  if (size == 0) check_fits(size, /*named=*/true, "SharedMemory " + name.str());
  // Create first: a taken name must report EEXIST (open_or_create relies on
  // it), not "does not fit" because the existing segment fills /dev/shm.
  const FdGuard fd(::shm_open(name.str().c_str(), O_CREAT | O_EXCL | O_RDWR, 0600));
  if (fd.get() < 0) throw_errno("shm_open " + name.str());
  try {
    check_fits(size, /*named=*/true, "SharedMemory " + name.str());
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) throw_errno("ftruncate " + name.str());
    std::byte* data = map_fd(fd.get(), size, Access::kReadWrite, name.str());
    return SharedMemory(data, size, name, current_pid(), Access::kReadWrite);
  } catch (...) {
    ::shm_unlink(name.str().c_str());
    throw;
  }
}

SharedMemory SharedMemory::named(OpenOnly, const SegmentName& name, Access access) {
  const int flags = access == Access::kReadOnly ? O_RDONLY : O_RDWR;
  const FdGuard fd(::shm_open(name.str().c_str(), flags, 0));
  if (fd.get() < 0) throw_errno("shm_open " + name.str());
  const std::size_t size = settled_size(fd.get(), name.str());
  return SharedMemory(map_fd(fd.get(), size, access, name.str()), size, name, 0, access);
}

SharedMemory SharedMemory::named(OpenOrCreate, const SegmentName& name, std::size_t size) {
  // Creation and attachment race between processes: try to create first,
  // and on EEXIST attach; a segment unlinked in between sends us round again.
  for (int attempt = 0; attempt < 8; ++attempt) {
    try {
      return named(create_only, name, size);
    } catch (const std::system_error& error) {
      if (error.code().value() != EEXIST) throw;
    }
    try {
      SharedMemory existing = named(open_only, name, Access::kReadWrite);
      if (existing.size() < size) {
        throw_system_error(EINVAL, "SharedMemory " + name.str() + ": exists with " +
                                       std::to_string(existing.size()) + " bytes, fewer than the " +
                                       std::to_string(size) + " requested");
      }
      return existing;
    } catch (const std::system_error& error) {
      if (error.code().value() != ENOENT) throw;
    }
  }
  throw_system_error(EAGAIN, "shm_open " + name.str() + ": created and removed concurrently 8 times");
}

SharedMemory::SharedMemory(SharedMemory&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      name_(std::exchange(other.name_, std::nullopt)),
      creator_pid_(std::exchange(other.creator_pid_, 0)),
      access_(other.access_) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    name_ = std::exchange(other.name_, std::nullopt);
    creator_pid_ = std::exchange(other.creator_pid_, 0);
    access_ = other.access_;
  }
  return *this;
}

SharedMemory::~SharedMemory() { release(); }

bool SharedMemory::remove() noexcept {
  // A forked child holds a copy of its parent's object: it must never unlink
  // what the parent still owns.
  if (!name_ || creator_pid_ == 0 || creator_pid_ != current_pid()) return false;
  creator_pid_ = 0;
  return ::shm_unlink(name_->str().c_str()) == 0;
}

void SharedMemory::release() noexcept {
  if (data_ != nullptr) ::munmap(data_, size_);
  remove();
  data_ = nullptr;
  size_ = 0;
}

}  // namespace mpkit
