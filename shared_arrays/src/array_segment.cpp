#include "mpkit/shared_arrays/array_segment.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/process.hpp"

namespace mpkit::shared_arrays::detail {
namespace {

std::string kind_name(std::uint32_t kind) {
  switch (static_cast<ElementKind>(kind)) {
    case ElementKind::kSigned:
      return "signed-integer";
    case ElementKind::kUnsigned:
      return "unsigned-integer";
    case ElementKind::kFloating:
      return "floating-point";
    case ElementKind::kOther:
      return "trivially-copyable";
  }
  return "unknown-kind (" + std::to_string(kind) + ")";
}

std::string describe(std::uint32_t size, std::uint32_t align, std::uint32_t kind) {
  return std::to_string(size) + "-byte " + kind_name(kind) + " elements (alignment " +
         std::to_string(align) + ")";
}

std::string describe(ElementInfo e) {
  return describe(e.size, e.align, static_cast<std::uint32_t>(e.kind));
}

std::string describe(std::uint32_t rank, std::uint64_t rows, std::uint64_t cols) {
  if (rank == 1) return "a 1-D array of " + std::to_string(cols) + " elements";
  if (rank == 2) return "a " + std::to_string(rows) + " x " + std::to_string(cols) + " matrix";
  return "an array of rank " + std::to_string(rank);
}

std::string where(const char* type, const std::optional<SegmentName>& name) {
  return name ? std::string(type) + " " + name->str() : std::string(type);
}

// Bytes of the elements, or nullopt if rows * cols * size overflows size_t
// (or the segment's total, with the header, would).
std::optional<std::size_t> element_bytes(std::uint64_t rows, std::uint64_t cols, std::size_t size,
                                         std::size_t offset) {
  std::size_t count = 0;
  std::size_t bytes = 0;
  std::size_t total = 0;
  if (__builtin_mul_overflow(rows, cols, &count) || __builtin_mul_overflow(count, size, &bytes) ||
      __builtin_add_overflow(bytes, offset, &total)) {
    return std::nullopt;
  }
  return bytes;
}

// The checks every creator runs before anything is mapped: bad dimensions
// are the caller's mistake (invalid_argument naming the argument); a size
// the machine cannot hold is SharedMemory's ENOMEM / ENOSPC.
std::size_t checked_data_bytes(const char* type, ElementInfo element, Shape shape) {
  if (shape.rank == 1) {
    if (shape.cols == 0) throw_invalid_argument(std::string(type) + ": size must be > 0 (got 0)");
  } else {
    if (shape.rows == 0) throw_invalid_argument(std::string(type) + ": rows must be > 0 (got 0)");
    if (shape.cols == 0) throw_invalid_argument(std::string(type) + ": cols must be > 0 (got 0)");
  }
  const auto bytes =
      element_bytes(shape.rows, shape.cols, element.size, data_offset_for(element.align));
  if (!bytes) {
    throw_invalid_argument(std::string(type) + ": " + describe(shape.rank, shape.rows, shape.cols) +
                           " of " + std::to_string(element.size) +
                           "-byte elements overflows the address space (size_t)");
  }
  return *bytes;
}

void write_header(const SharedMemory& memory, ElementInfo element, Shape shape) {
  auto* header = new (memory.data()) ArrayHeader{};
  header->magic = kArrayMagic;
  header->layout_version = kArrayLayoutVersion;
  header->rank = shape.rank;
  header->element_size = element.size;
  header->element_align = element.align;
  header->element_kind = static_cast<std::uint32_t>(element.kind);
  header->rows = shape.rows;
  header->cols = shape.cols;
  header->data_offset = data_offset_for(element.align);
  // release: publishes every field above to openers (see A in open()).
  header->state.store(ArrayHeader::kReady, std::memory_order_release);
}

void fail(const std::string& what, const std::string& found, const std::string& expected) {
  throw LayoutMismatchError(what + ": holds " + found + ", this code expects " + expected);
}

// Touches one byte of every page in [begin, end): a write fault for a
// writable mapping, kept harmless by an atomic `or 0` (another process may
// be writing the same byte); a read for a read-only one.
void touch_pages(std::byte* begin, std::byte* end, bool writable) noexcept {
  for (std::byte* page = begin; page < end; page += kPageSize) {
    auto& first = *reinterpret_cast<unsigned char*>(page);
    if (writable) {
      // relaxed: the value does not change and publishes nothing; only the
      // fault matters.
      std::atomic_ref<unsigned char>(first).fetch_or(0, std::memory_order_relaxed);
    } else {
      (void)*static_cast<volatile unsigned char*>(&first);
    }
  }
}

// The page range of share `k` of `workers`.
std::pair<std::byte*, std::byte*> share_of(const SharedMemory& memory, unsigned k,
                                           unsigned workers) {
  const std::size_t pages = (memory.size() + kPageSize - 1) / kPageSize;
  const std::size_t first = pages * k / workers;
  const std::size_t last = pages * (k + 1) / workers;
  return {memory.data() + first * kPageSize,
          memory.data() + std::min(last * kPageSize, memory.size())};
}

}  // namespace

ArraySegment::ArraySegment(SharedMemory memory, std::uint64_t rows, std::uint64_t cols,
                           std::size_t data_bytes)
    : memory_(std::move(memory)), rows_(rows), cols_(cols), data_bytes_(data_bytes) {
  data_ = memory_.data() + memory_.as<const ArrayHeader>()->data_offset;
}

ArraySegment ArraySegment::anonymous(const char* type, ElementInfo element, Shape shape) {
  const std::size_t bytes = checked_data_bytes(type, element, shape);
  SharedMemory memory = SharedMemory::anonymous(data_offset_for(element.align) + bytes);
  write_header(memory, element, shape);
  return ArraySegment(std::move(memory), shape.rows, shape.cols, bytes);
}

ArraySegment ArraySegment::create(const char* type, const SegmentName& name, ElementInfo element,
                                  Shape shape) {
  const std::size_t bytes = checked_data_bytes(type, element, shape);
  SharedMemory memory =
      SharedMemory::named(create_only, name, data_offset_for(element.align) + bytes);
  write_header(memory, element, shape);
  return ArraySegment(std::move(memory), shape.rows, shape.cols, bytes);
}

ArraySegment ArraySegment::open(const char* type, const SegmentName& name, ElementInfo element,
                                std::uint32_t rank, Access access, std::optional<Shape> expected,
                                std::chrono::milliseconds ready_timeout) {
  const std::string what = where(type, name);
  SharedMemory memory = SharedMemory::named(open_only, name, access);
  if (memory.size() < sizeof(ArrayHeader)) {
    fail(what, std::to_string(memory.size()) + " bytes (no array header)",
         "at least " + std::to_string(sizeof(ArrayHeader)));
  }
  const auto& header = *memory.as<const ArrayHeader>();
  const auto give_up = std::chrono::steady_clock::now() + ready_timeout;
  // acquire: pairs with the creator's release of kReady; every header field
  // is complete once we see it.  // A
  while (header.state.load(std::memory_order_acquire) != ArrayHeader::kReady) {
    // A segment that is not an array (another mpkit type) never turns ready
    // at this offset: refuse it at once rather than after the timeout. Before
    // kReady the magic is zero or being written, so only a foreign non-zero
    // value is conclusive.
    // relaxed: only a hint, re-checked after A. (A load: fine on a
    // read-only mapping; atomic_ref<const T> is C++26.)
    const std::uint64_t magic =
        std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(header.magic))
            .load(std::memory_order_relaxed);
    if (magic != 0 && magic != kArrayMagic) break;
    if (std::chrono::steady_clock::now() > give_up) {
      throw_system_error(
          ETIMEDOUT, what + ": not ready after " + std::to_string(ready_timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  if (header.magic != kArrayMagic)
    throw LayoutMismatchError(what + ": no mpkit array header (bad magic)");
  if (header.layout_version != kArrayLayoutVersion) {
    fail(what, "layout version " + std::to_string(header.layout_version),
         "version " + std::to_string(kArrayLayoutVersion));
  }
  if (header.rank != rank) {
    fail(what, describe(header.rank, header.rows, header.cols),
         rank == 1 ? "a 1-D array (SharedArray)" : "a matrix (SharedMatrix)");
  }
  if (header.element_size != element.size || header.element_align != element.align ||
      header.element_kind != static_cast<std::uint32_t>(element.kind)) {
    fail(what, describe(header.element_size, header.element_align, header.element_kind),
         describe(element));
  }
  if (expected && (expected->rows != header.rows || expected->cols != header.cols)) {
    fail(what, describe(header.rank, header.rows, header.cols),
         describe(expected->rank, expected->rows, expected->cols));
  }
  const auto bytes = element_bytes(header.rows, header.cols, element.size, header.data_offset);
  if (header.data_offset != data_offset_for(element.align) || !bytes ||
      memory.size() < header.data_offset + *bytes) {
    fail(what,
         std::to_string(memory.size()) + " bytes for " +
             describe(header.rank, header.rows, header.cols),
         "the header's shape to fit in the segment");
  }
  const std::uint64_t rows = header.rows;
  const std::uint64_t cols = header.cols;
  return ArraySegment(std::move(memory), rows, cols, *bytes);
}

void ArraySegment::prefault(Prefault how, unsigned workers) const {
  const bool writable = memory_.access() == Access::kReadWrite;
  const std::string what = memory_.name() ? memory_.name()->str() : std::string("anonymous");
  if (how == Prefault::kPopulate) {
    const int advice = writable ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
    if (::madvise(memory_.data(), memory_.size(), advice) == 0) return;
    // Before Linux 5.14 the advice does not exist: touch in the caller,
    // which maps the pages into its page tables just the same.
    if (errno != EINVAL) {
      throw_errno(std::string("madvise ") +
                  (writable ? "MADV_POPULATE_WRITE " : "MADV_POPULATE_READ ") + what + " " +
                  std::to_string(memory_.size()) + " bytes");
    }
    touch_pages(memory_.data(), memory_.data() + memory_.size(), writable);
    return;
  }
  if (workers == 0) throw_invalid_argument("prefault: workers must be >= 1 (got 0)");
  if (how == Prefault::kTouchThreads) {
    std::vector<std::jthread> threads;
    threads.reserve(workers);
    for (unsigned k = 0; k < workers; ++k) {
      // A named pair, not a structured binding: clang 14 cannot capture those.
      const auto share = share_of(memory_, k, workers);
      threads.emplace_back([share, writable] { touch_pages(share.first, share.second, writable); });
    }
    return;  // the jthreads join here
  }
  std::vector<Process> children;
  children.reserve(workers);
  for (unsigned k = 0; k < workers; ++k) {
    const auto share = share_of(memory_, k, workers);
    children.emplace_back([share, writable] { touch_pages(share.first, share.second, writable); });
  }
  // Bounded: 30 s plus 100 µs per page (a healthy fault costs ~3 µs).
  const auto budget =
      std::chrono::seconds(30) + std::chrono::microseconds(100 * (memory_.size() / kPageSize));
  const auto give_up = std::chrono::steady_clock::now() + budget;
  for (Process& child : children) {
    const auto left = std::max(std::chrono::steady_clock::duration::zero(),
                               give_up - std::chrono::steady_clock::now());
    const auto code = child.join(left);
    if (!code) {
      throw_system_error(
          ETIMEDOUT,
          "prefault " + what + ": worker " + std::to_string(child.pid()) + " still running after " +
              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(budget).count()) +
              " s");
    }
    if (*code != 0) {
      throw_system_error(ECHILD, "prefault " + what + ": worker " + std::to_string(child.pid()) +
                                     (*code < 0 ? " killed by signal " + std::to_string(-*code)
                                                : " exited with " + std::to_string(*code)));
    }
  }
}

}  // namespace mpkit::shared_arrays::detail
