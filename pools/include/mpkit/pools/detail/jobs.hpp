#pragma once

// The typed jobs behind ProcessPool/ThreadPool calls: the chunk runner that
// a worker executes (run_chunk), and the parent-side jobs that encode chunks
// and decode results (MapJob: map/starmap; ImapJob: imap/imap_unordered;
// SubmitJob: submit/apply_async). Owner-thread only (see pool_core.hpp).

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <span>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mpkit/ipc/detail/clock.hpp"
#include "mpkit/pools/codec.hpp"
#include "mpkit/pools/detail/pool_core.hpp"
#include "mpkit/pools/errors.hpp"

namespace mpkit::pools::detail {

/// A function the workers can call: a plain function pointer, or a lambda
/// without captures (an empty class; the worker makes its own).
template <class F>
concept PoolFunction = (std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>) ||
                       (std::is_class_v<F> && std::is_empty_v<F> && std::is_default_constructible_v<F> &&
                        std::is_trivially_copyable_v<F>);

template <class F>
[[nodiscard]] std::uintptr_t function_word(F f) noexcept {
  if constexpr (std::is_pointer_v<F>) {
    return reinterpret_cast<std::uintptr_t>(f);  // the same address in every fork of this binary
  } else {
    (void)f;
    return 0;
  }
}
template <class F>
[[nodiscard]] F function_from(std::uintptr_t word) noexcept {
  if constexpr (std::is_pointer_v<F>) {
    return reinterpret_cast<F>(word);
  } else {
    (void)word;
    return F{};
  }
}

template <class R>
using Stored = std::conditional_t<std::is_void_v<R>, Unit, std::decay_t<R>>;

template <class F, class T, bool Star>
struct CallResult {
  using type = Stored<std::invoke_result_t<F&, const T&>>;
};
template <class F, class T>
struct CallResult<F, T, true> {
  using type = Stored<decltype(std::apply(std::declval<F&>(), std::declval<T&>()))>;
};
template <class F, class T, bool Star>
using CallResultT = typename CallResult<F, T, Star>::type;

/// Result payload layouts (chosen by R alone, so both ends agree):
///   bulk (R trivially copyable and default constructible): `count` status
///     bytes, then `count` R slots (a failed item's slot is unspecified),
///     then the message of each failed item, in item order -- the parent
///     copies the values with one memcpy;
///   otherwise, per item: a status byte, then the encoded R or the message.
template <class R>
inline constexpr bool kBulkResult =
    std::is_trivially_copyable_v<R> && std::is_default_constructible_v<R> && !std::is_same_v<R, bool>;  // vector<bool> has no data()

template <class F, class T, bool Star>
CallResultT<F, T, Star> call_once(F& f, const T& arg) {
  using R = CallResultT<F, T, Star>;
  if constexpr (Star) {
    if constexpr (std::is_void_v<decltype(std::apply(f, arg))>) {
      std::apply(f, arg);
      return R{};
    } else {
      return std::apply(f, arg);
    }
  } else {
    if constexpr (std::is_void_v<std::invoke_result_t<F&, const T&>>) {
      std::invoke(f, arg);
      return R{};
    } else {
      return std::invoke(f, arg);
    }
  }
}

inline void stamp_now(std::atomic<std::uint64_t>* stamp) noexcept {
  if (stamp != nullptr) {
    // relaxed: a hint for the parent's timeout check
    stamp->store(static_cast<std::uint64_t>(mpkit::detail::now_ns()), std::memory_order_relaxed);
  }
}

/// The worker side of a chunk (a ChunkEntry): decode each argument, call,
/// encode the status and the result; a throw becomes a TaskError message
/// and the next item runs.
template <class F, class T, bool Star>
void run_chunk(std::uintptr_t fn, ByteReader& in, std::uint32_t count, ByteWriter& out,
               std::atomic<std::uint64_t>* stamp) {
  using R = CallResultT<F, T, Star>;
  F f = function_from<F>(fn);
  if constexpr (kBulkResult<R>) {
    const std::size_t statuses = out.size();
    (void)out.grow(count);
    const std::size_t values = out.size();
    (void)out.grow(std::size_t{count} * sizeof(R));
    std::vector<std::string> errors;  // allocated only if an item fails
    for (std::uint32_t i = 0; i < count; ++i) {
      T arg = Codec<T>::decode(in);
      stamp_now(stamp);
      std::uint8_t status = kItemValue;
      try {
        const R r = call_once<F, T, Star>(f, arg);
        std::memcpy(out.mutable_data() + values + std::size_t{i} * sizeof(R), &r, sizeof(R));
      } catch (...) {
        status = kItemError;
        errors.push_back(describe_current_exception());
      }
      std::memcpy(out.mutable_data() + statuses + i, &status, 1);
    }
    for (const std::string& message : errors) Codec<std::string>::encode(out, message);
  } else {
    for (std::uint32_t i = 0; i < count; ++i) {
      T arg = Codec<T>::decode(in);
      stamp_now(stamp);
      const std::size_t mark = out.size();
      try {
        out.write_value(kItemValue);
        Codec<R>::encode(out, call_once<F, T, Star>(f, arg));
      } catch (...) {
        out.truncate(mark);
        out.write_value(kItemError);
        Codec<std::string>::encode(out, describe_current_exception());
      }
    }
  }
  if (stamp != nullptr) stamp->store(0, std::memory_order_relaxed);  // relaxed: as above
}

/// Decodes a chunk's results, calling value(i, R&&) or error(i, message).
template <class R, class Value, class Error>
void decode_chunk(ByteReader& in, std::uint32_t count, Value&& value, Error&& error) {
  if constexpr (kBulkResult<R>) {
    const auto statuses = in.take(count);
    const auto values = in.take(std::size_t{count} * sizeof(R));
    for (std::uint32_t i = 0; i < count; ++i) {
      if (std::to_integer<std::uint8_t>(statuses[i]) == kItemValue) {
        R r;
        std::memcpy(&r, values.data() + std::size_t{i} * sizeof(R), sizeof(R));
        value(i, std::move(r));
      } else {
        error(i, Codec<std::string>::decode(in));
      }
    }
  } else {
    for (std::uint32_t i = 0; i < count; ++i) {
      if (in.read_value<std::uint8_t>() == kItemValue) {
        value(i, Codec<R>::decode(in));
      } else {
        error(i, Codec<std::string>::decode(in));
      }
    }
  }
}

/// The chunksize a job uses: the caller's, but never more items than one
/// message header counts (2^32 - 1) nor, for a known input size `n`, more
/// than n -- so a chunksize up to SIZE_MAX is one chunk, never a wrapped
/// chunk count or a huge reservation.
[[nodiscard]] constexpr std::size_t effective_chunksize(std::size_t chunksize,
                                                        std::size_t n = ~std::size_t{0}) noexcept {
  const std::size_t most = std::min<std::size_t>(std::max<std::size_t>(n, 1), ~std::uint32_t{0});
  return std::min(chunksize, most);
}

template <class R>
[[nodiscard]] std::exception_ptr task_error(std::string message) {
  return std::make_exception_ptr(TaskError(std::move(message)));
}

template <class R>
void decode_outcomes(ByteReader& in, std::uint32_t count, std::vector<Outcome<R>>& out) {
  decode_chunk<R>(
      in, count, [&](std::uint32_t, R&& r) { out.emplace_back(std::move(r)); },
      [&](std::uint32_t, std::string message) { out.emplace_back(task_error<R>(std::move(message))); });
}

/// map/starmap over a contiguous input the caller keeps alive for the call.
/// Bulk results (kBulkResult) land straight in a std::vector<R>, failures
/// on the side; other results are kept as Outcome<R> per item.
template <class F, class T, bool Star>
class MapJob final : public Job {
 public:
  using R = CallResultT<F, T, Star>;
  MapJob(F f, std::span<const T> inputs, std::size_t chunksize)
      : Job(&run_chunk<F, T, Star>, function_word(f)),
        inputs_(inputs),
        chunksize_(effective_chunksize(chunksize, inputs.size())),
        chunks_((inputs.size() + chunksize_ - 1) / chunksize_),
        delivered_(chunks_, false),
        remaining_(chunks_) {
    if constexpr (kBulkResult<R>) {
      values_.resize(inputs.size());
    } else {
      outcomes_.resize(inputs.size());
    }
  }

  std::optional<std::uint64_t> next_chunk() override {
    if (cancelled_ || next_ == chunks_) return std::nullopt;
    return next_++;
  }
  [[nodiscard]] bool exhausted() const override { return cancelled_ || next_ == chunks_; }
  std::uint32_t encode_chunk(std::uint64_t chunk, ByteWriter& out) override {
    if (cancelled_) throw PoolError("the call that made this task has returned");
    const auto range = bounds(chunk);  // not a structured binding: clang 14 cannot capture those
    const std::size_t begin = range.first;
    const std::size_t end = range.second;
    if constexpr (std::is_trivially_copyable_v<T>) {
      out.write(inputs_.data() + begin, (end - begin) * sizeof(T));  // the codec's layout, in one copy
    } else {
      for (std::size_t i = begin; i < end; ++i) Codec<T>::encode(out, inputs_[i]);
    }
    return static_cast<std::uint32_t>(end - begin);
  }
  void deliver(std::uint64_t chunk, std::uint32_t count, ByteReader& in) override {
    const auto range = bounds(chunk);  // not a structured binding: clang 14 cannot capture those
    const std::size_t begin = range.first;
    const std::size_t end = range.second;
    if (delivered_[chunk] || count != end - begin) return;
    try {
      if constexpr (kBulkResult<R>) {
        const auto statuses = in.take(count);
        const auto values = in.take(std::size_t{count} * sizeof(R));
        std::memcpy(values_.data() + begin, values.data(), values.size());
        for (std::uint32_t i = 0; i < count; ++i) {
          if (std::to_integer<std::uint8_t>(statuses[i]) != kItemValue) {
            errors_.emplace_back(begin + i, task_error<R>(Codec<std::string>::decode(in)));
          }
        }
      } else {
        decode_chunk<R>(
            in, count, [&](std::uint32_t i, R&& r) { outcomes_[begin + i] = Outcome<R>(std::move(r)); },
            [&](std::uint32_t i, std::string message) {
              outcomes_[begin + i] = Outcome<R>(task_error<R>(std::move(message)));
            });
      }
    } catch (...) {
      set_error(begin, end, std::current_exception());
    }
    settle(chunk);
  }
  void fail(std::uint64_t chunk, const std::exception_ptr& error) override {
    if (delivered_[chunk]) return;
    const auto range = bounds(chunk);  // not a structured binding: clang 14 cannot capture those
    const std::size_t begin = range.first;
    const std::size_t end = range.second;
    set_error(begin, end, error);
    settle(chunk);
  }
  [[nodiscard]] std::size_t first_index(std::uint64_t chunk) const override {
    return static_cast<std::size_t>(chunk) * chunksize_;
  }

  [[nodiscard]] bool done() const noexcept { return remaining_ == 0; }
  /// The call is leaving (returned or threw): stop issuing, forget the input.
  void cancel() noexcept { cancelled_ = true; }

  /// Every value in input order; rethrows the failure of the lowest index.
  std::vector<R> take_values() {
    if constexpr (kBulkResult<R>) {
      if (!errors_.empty()) {
        std::rethrow_exception(
            std::min_element(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
              return a.first < b.first;
            })->second);
      }
      return std::move(values_);
    } else {
      for (const Outcome<R>& outcome : outcomes_) {
        if (outcome.has_error()) std::rethrow_exception(outcome.error());
      }
      std::vector<R> values;
      values.reserve(outcomes_.size());
      for (Outcome<R>& outcome : outcomes_) values.push_back(std::move(outcome).value());
      return values;
    }
  }
  std::vector<Outcome<R>> take_outcomes() {
    if constexpr (kBulkResult<R>) {
      std::vector<Outcome<R>> outcomes;
      outcomes.reserve(values_.size());
      for (const R& value : values_) outcomes.emplace_back(value);
      for (auto& [index, error] : errors_) outcomes[index] = Outcome<R>(error);
      return outcomes;
    } else {
      return std::move(outcomes_);
    }
  }

 private:
  [[nodiscard]] std::pair<std::size_t, std::size_t> bounds(std::uint64_t chunk) const noexcept {
    const std::size_t begin = static_cast<std::size_t>(chunk) * chunksize_;
    return {begin, std::min(begin + chunksize_, inputs_.size())};
  }
  void set_error(std::size_t begin, std::size_t end, const std::exception_ptr& error) {
    for (std::size_t i = begin; i < end; ++i) {
      if constexpr (kBulkResult<R>) {
        errors_.emplace_back(i, error);
      } else {
        outcomes_[i] = Outcome<R>(error);
      }
    }
  }
  void settle(std::uint64_t chunk) noexcept {
    delivered_[chunk] = true;
    remaining_ -= 1;
  }

  std::span<const T> inputs_;
  std::size_t chunksize_;
  std::uint64_t chunks_;
  std::uint64_t next_ = 0;
  std::vector<R> values_;                                        // bulk results
  std::vector<std::pair<std::size_t, std::exception_ptr>> errors_;  // bulk failures
  std::vector<Outcome<R>> outcomes_;                             // other results
  std::vector<bool> delivered_;
  std::uint64_t remaining_;
  bool cancelled_ = false;
};

/// What an imap handle reads, whatever the input's iterator type.
template <class R>
class ImapSource : public Job {
 public:
  using Job::Job;
  [[nodiscard]] virtual bool has_ready() const = 0;
  [[nodiscard]] virtual bool finished() const = 0;  // every item yielded
  virtual Outcome<R> take() = 0;
  virtual void cancel() noexcept = 0;
};

/// imap / imap_unordered: pulls the input lazily, at most `window` chunks
/// in flight or waiting to be read.
template <class F, class T, bool Star, class It, class Sent>
class ImapJob final : public ImapSource<CallResultT<F, T, Star>> {
 public:
  using R = CallResultT<F, T, Star>;
  ImapJob(F f, It begin, Sent end, std::size_t chunksize, std::size_t window, bool ordered)
      : ImapSource<R>(&run_chunk<F, T, Star>, function_word(f)),
        it_(std::move(begin)),
        end_(std::move(end)),
        chunksize_(effective_chunksize(chunksize)),
        window_(window),
        ordered_(ordered) {}

  std::optional<std::uint64_t> next_chunk() override {
    if (cancelled_ || it_ == end_) return std::nullopt;
    const std::size_t buffered = (ready_items_.size() + chunksize_ - 1) / chunksize_ + ready_.size();
    if (issued_ - completed_ + buffered >= window_) return std::nullopt;
    std::vector<T> items;
    items.reserve(std::min<std::size_t>(chunksize_, 1024));  // the input's length is unknown
    while (it_ != end_ && items.size() < chunksize_) {
      items.push_back(static_cast<T>(*it_));
      ++it_;
    }
    inputs_.emplace(issued_, std::move(items));
    return issued_++;
  }
  [[nodiscard]] bool exhausted() const override { return cancelled_ || it_ == end_; }
  std::uint32_t encode_chunk(std::uint64_t chunk, ByteWriter& out) override {
    const std::vector<T>& items = inputs_.at(chunk);
    for (const T& item : items) Codec<T>::encode(out, item);
    return static_cast<std::uint32_t>(items.size());
  }
  void deliver(std::uint64_t chunk, std::uint32_t count, ByteReader& in) override {
    auto it = inputs_.find(chunk);
    if (it == inputs_.end() || count != it->second.size()) return;
    std::vector<Outcome<R>> outcomes;
    outcomes.reserve(count);
    try {
      decode_outcomes<R>(in, count, outcomes);
    } catch (...) {
      while (outcomes.size() < count) outcomes.emplace_back(std::current_exception());
    }
    settle(it, std::move(outcomes));
  }
  void fail(std::uint64_t chunk, const std::exception_ptr& error) override {
    auto it = inputs_.find(chunk);
    if (it == inputs_.end()) return;
    settle(it, std::vector<Outcome<R>>(it->second.size(), Outcome<R>(error)));
  }
  [[nodiscard]] std::size_t first_index(std::uint64_t chunk) const override {
    return static_cast<std::size_t>(chunk) * chunksize_;
  }

  [[nodiscard]] bool has_ready() const override {
    if (!ready_items_.empty()) return true;
    return ordered_ ? ready_.contains(next_read_) : false;
  }
  [[nodiscard]] bool finished() const override {
    return (cancelled_ || it_ == end_) && completed_ == issued_ && ready_items_.empty() && ready_.empty();
  }
  Outcome<R> take() override {
    if (ready_items_.empty() && ordered_) {
      auto node = ready_.extract(next_read_);
      ++next_read_;
      for (auto& outcome : node.mapped()) ready_items_.push_back(std::move(outcome));
    }
    Outcome<R> outcome = std::move(ready_items_.front());
    ready_items_.pop_front();
    return outcome;
  }
  void cancel() noexcept override { cancelled_ = true; }

 private:
  void settle(typename std::unordered_map<std::uint64_t, std::vector<T>>::iterator it,
              std::vector<Outcome<R>> outcomes) {
    const std::uint64_t chunk = it->first;
    inputs_.erase(it);
    completed_ += 1;
    if (ordered_) {
      ready_.emplace(chunk, std::move(outcomes));
    } else {
      for (auto& outcome : outcomes) ready_items_.push_back(std::move(outcome));
    }
  }

  It it_;
  Sent end_;
  std::size_t chunksize_;
  std::size_t window_;
  bool ordered_;
  bool cancelled_ = false;
  std::uint64_t issued_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t next_read_ = 0;
  std::unordered_map<std::uint64_t, std::vector<T>> inputs_;    // in flight (kept for a re-dispatch)
  std::map<std::uint64_t, std::vector<Outcome<R>>> ready_;     // ordered: completed, not yet read
  std::deque<Outcome<R>> ready_items_;                         // items of the chunk being read / unordered
};

/// submit / apply_async: one call, its arguments encoded at once (so an
/// encoding failure raises at the call site).
template <class F, class Tuple>
class SubmitJob final : public Job {
 public:
  using R = CallResultT<F, Tuple, true>;
  SubmitJob(F f, const Tuple& args) : Job(&run_chunk<F, Tuple, true>, function_word(f)) {
    ByteWriter writer;
    Codec<Tuple>::encode(writer, args);
    encoded_.assign(writer.data(), writer.data() + writer.size());
  }
  std::optional<std::uint64_t> next_chunk() override {
    if (issued_) return std::nullopt;
    issued_ = true;
    return 0;
  }
  [[nodiscard]] bool exhausted() const override { return issued_; }
  std::uint32_t encode_chunk(std::uint64_t, ByteWriter& out) override {
    out.write(encoded_.data(), encoded_.size());
    return 1;
  }
  void deliver(std::uint64_t, std::uint32_t count, ByteReader& in) override {
    if (outcome_ || count != 1) return;
    try {
      std::vector<Outcome<R>> outcomes;
      decode_outcomes<R>(in, 1, outcomes);
      outcome_ = std::move(outcomes.at(0));
    } catch (...) {
      outcome_ = Outcome<R>(std::current_exception());
    }
  }
  void fail(std::uint64_t, const std::exception_ptr& error) override {
    if (!outcome_) outcome_ = Outcome<R>(error);
  }
  [[nodiscard]] std::size_t first_index(std::uint64_t) const override { return 0; }

  [[nodiscard]] bool ready() const noexcept { return outcome_.has_value(); }
  [[nodiscard]] const Outcome<R>& outcome() const noexcept { return *outcome_; }

 private:
  std::vector<std::byte> encoded_;
  bool issued_ = false;
  std::optional<Outcome<R>> outcome_;
};

}  // namespace mpkit::pools::detail
