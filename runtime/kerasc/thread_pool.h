// kerasc runtime: the process-wide fork-join thread pool that the kernels (GEMM) split work over,
// and the per-thread scratch memory they pack operands into.
//
//   kerasc::ThreadPool &pool = kerasc::thread_pool();   // created on first call
//   pool.parallel_for(tasks, [&](int64_t task, int thread) { ... pool.scratch(thread) ... });
//
// - Size: env KERASC_NUM_THREADS if set (>= 1), else std::thread::hardware_concurrency(). The
//   calling thread is thread 0 and always works too, so KERASC_NUM_THREADS=1 starts no thread.
// - Scratch: every thread (the caller included) owns kThreadScratchBytes of 64-byte aligned
//   memory, allocated once when the pool is created, so kernels never allocate on the hot path.
// - Scheduling: the tasks are cut into one contiguous share per thread, which that thread runs
//   first, in order (so it finds its share of the operands in its own cache from one call to
//   the next). A thread that is done takes what is left of the others' shares, and the caller
//   waits for tasks, never for threads: on a busy machine, a worker that the OS has not
//   scheduled yet does not hold the call up, the caller just runs its tasks (and a forked child,
//   which has no workers, still works). Which thread runs a task never changes what it computes.
// - Waiting: idle workers spin for kSpinMicroseconds (back-to-back layers find them awake), then
//   block on a condition variable, so an idle program burns no CPU.
// - Not reentrant: parallel_for may be called from one thread at a time (the generated model
//   API is), and not from inside a task. The pool joins its workers when it is destroyed, at
//   static destruction for thread_pool()'s pool.
// Header-only, standard library only.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "kerasc/denormals.h"

namespace kerasc {

/// Scratch bytes per pool thread: GEMM's packed panels (gemm.h checks its blocks fit).
constexpr std::size_t kThreadScratchBytes = std::size_t(3) << 20;
/// How long an idle worker polls for the next job before it goes to sleep.
constexpr int kSpinMicroseconds = 200;
/// Scratch alignment: a cache line, which is also the widest vector (AVX-512).
constexpr std::size_t kScratchAlignment = 64;

class ThreadPool {
public:
  /// A pool of `num_threads` threads counting the caller (num_threads - 1 workers are started),
  /// each with kThreadScratchBytes of scratch memory.
  explicit ThreadPool(int num_threads)
      : num_threads_(std::max(1, num_threads)), shares_(static_cast<std::size_t>(num_threads_)) {
    for (int t = 0; t < num_threads_; ++t)
      scratch_.push_back(static_cast<float *>(
          ::operator new(kThreadScratchBytes, std::align_val_t(kScratchAlignment))));
    for (int t = 1; t < num_threads_; ++t)
      workers_.emplace_back([this, t] { worker_main(t); });
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true);
    }
    wake_.notify_all();
    for (std::thread &worker : workers_)
      worker.join();
    for (float *block : scratch_)
      ::operator delete(block, std::align_val_t(kScratchAlignment));
  }

  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  /// Threads that run tasks, the caller included.
  int size() const { return num_threads_; }

  /// Thread `thread`'s scratch memory: kThreadScratchBytes, 64-byte aligned.
  float *scratch(int thread) const { return scratch_[static_cast<std::size_t>(thread)]; }

  /// Runs fn(task, thread) for every task in [0, tasks) and returns when all are done; thread
  /// is the index of the thread that runs it (0: the caller), for scratch(thread).
  template <class F> void parallel_for(int64_t tasks, const F &fn) {
    if (num_threads_ == 1 || tasks <= 1) {
      for (int64_t task = 0; task < tasks; ++task)
        fn(task, 0);
      return;
    }
    // A share's claim word holds at most kMaxTasks tasks: more run in rounds.
    for (int64_t base = 0; base < tasks; base += kMaxTasks) {
      const int64_t round = std::min(kMaxTasks, tasks - base);
      if (base == 0 && round == tasks)
        run_round(tasks, fn);
      else
        run_round(round, [&](int64_t task, int thread) { fn(base + task, thread); });
    }
  }

private:
  // One share's claim word: job generation (32 bits) | tasks in the job (16) | next task (16).
  // Claiming a task is a compare-exchange of the whole word, so a worker still looking at an
  // old job can never claim (nor read the job of) a newer one.
  static constexpr int64_t kMaxTasks = 0xFFFF;
  static uint64_t claim_word(uint64_t generation, int64_t tasks, int64_t next) {
    return generation << 32 | static_cast<uint64_t>(tasks) << 16 | static_cast<uint64_t>(next);
  }

  template <class F> void run_round(int64_t tasks, const F &fn) {
    const uint64_t generation = generation_.load(std::memory_order_relaxed) + 1;
    job_ = &fn;
    job_call_ = [](const void *job, int64_t task, int thread) {
      (*static_cast<const F *>(job))(task, thread);
    };
    done_.store(0, std::memory_order_relaxed);
    const int64_t participants = std::min<int64_t>(tasks, num_threads_);
    for (int64_t t = 0; t < num_threads_; ++t) // thread t's share starts at task t * tasks / P
      shares_[static_cast<std::size_t>(t)].word.store(
          claim_word(generation, tasks, t < participants ? tasks * t / participants : tasks),
          std::memory_order_release);
    // Publish. The seq_cst pair (generation_ here, sleepers_ in wait_for_job) makes sure that a
    // worker about to sleep either sees the new generation or gets notified.
    generation_.store(generation, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      wake_.notify_all();
    }
    run_tasks(0, generation);
    // Only tasks that a worker claimed are left, so this wait is as long as one task, unless
    // the OS preempted that worker: then give the core away now and then.
    for (int polls = 1; done_.load(std::memory_order_acquire) != tasks; ++polls) {
      cpu_relax();
      if (polls % 1024 == 0)
        std::this_thread::yield();
    }
  }

  /// Claims and runs tasks of job `generation`: this thread's share, then the others'.
  void run_tasks(int thread, uint64_t generation) {
    for (int i = 0; i < num_threads_; ++i) {
      const int share = (thread + i) % num_threads_;
      for (int64_t task; (task = claim(share, generation)) >= 0;) {
        job_call_(job_, task, thread);
        done_.fetch_add(1, std::memory_order_release);
      }
    }
  }

  /// The next task of `share` in job `generation`, or -1 when there is none.
  int64_t claim(int share, uint64_t generation) {
    std::atomic<uint64_t> &word = shares_[static_cast<std::size_t>(share)].word;
    uint64_t seen = word.load(std::memory_order_acquire);
    for (;;) {
      const int64_t tasks = static_cast<int64_t>(seen >> 16 & 0xFFFF);
      const int64_t next = static_cast<int64_t>(seen & 0xFFFF);
      const int64_t participants = std::min<int64_t>(tasks, num_threads_);
      const int64_t end = share < participants ? tasks * (share + 1) / participants : tasks;
      if (seen >> 32 != (generation & 0xFFFFFFFFu) || next >= end)
        return -1;
      if (word.compare_exchange_weak(seen, seen + 1, std::memory_order_acq_rel,
                                     std::memory_order_acquire))
        return next;
    }
  }

  void worker_main(int thread) {
    const ScopedFlushDenormals flush_denormals;  // workers only ever run kernels
    uint64_t seen = 0;
    while (wait_for_job(seen)) {
      seen = generation_.load(std::memory_order_acquire);
      run_tasks(thread, seen);
    }
  }

  /// Spins, then sleeps, until a generation after `seen` is published (true) or the pool
  /// stops (false).
  bool wait_for_job(uint64_t seen) {
    const auto spin_until =
        std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicroseconds);
    for (int polls = 0;; ++polls) {
      if (generation_.load(std::memory_order_acquire) != seen)
        return true;
      if (stop_.load(std::memory_order_relaxed))
        return false;
      cpu_relax();
      if (polls % 64 == 63 && std::chrono::steady_clock::now() > spin_until)
        break;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    wake_.wait(lock, [&] {
      return generation_.load(std::memory_order_seq_cst) != seen || stop_.load();
    });
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return !stop_.load();
  }

  /// Tells the core that this is a spin-wait loop (frees resources for a sibling thread).
  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  const int num_threads_;
  std::vector<float *> scratch_;
  std::vector<std::thread> workers_;

  // The current job: written by the caller before it publishes the claim words, read by a
  // worker only after it has claimed one of the job's tasks.
  const void *job_ = nullptr;
  void (*job_call_)(const void *, int64_t, int) = nullptr;
  struct alignas(64) Share {
    std::atomic<uint64_t> word{0};
  };
  std::vector<Share> shares_;

  alignas(64) std::atomic<uint64_t> generation_{0};
  alignas(64) std::atomic<int64_t> done_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
};

/// Threads for the process-wide pool: KERASC_NUM_THREADS if it is a number >= 1, else every
/// hardware thread.
inline int default_thread_count() {
  if (const char *env = std::getenv("KERASC_NUM_THREADS")) {
    char *end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n >= 1)
      return static_cast<int>(std::min(n, 1024L));
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

/// The process-wide pool, created on the first call (generated init functions call this once
/// so that the threads exist before the first inference).
inline ThreadPool &thread_pool() {
  static ThreadPool pool(default_thread_count());
  return pool;
}

} // namespace kerasc
