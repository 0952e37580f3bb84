#pragma once

// Lock policy written down for the compiler (clang's -Wthread-safety).
//
// GCC ignores these; clang checks that data marked MPKIT_GUARDED_BY(m) is
// only touched while `m` is held. mpkit::Mutex is a capability and
// mpkit::MutexLock its scoped guard; std::scoped_lock works too but is not
// annotated in libstdc++, so code that wants the check uses MutexLock. The
// ctest `thread_safety.examples` compiles the examples with clang
// -Wthread-safety -Werror whenever clang++ is installed.

#if defined(__clang__)
#define MPKIT_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define MPKIT_THREAD_ANNOTATION(x)
#endif

#define MPKIT_CAPABILITY(name) MPKIT_THREAD_ANNOTATION(capability(name))
#define MPKIT_SCOPED_CAPABILITY MPKIT_THREAD_ANNOTATION(scoped_lockable)
#define MPKIT_GUARDED_BY(mutex) MPKIT_THREAD_ANNOTATION(guarded_by(mutex))
#define MPKIT_PT_GUARDED_BY(mutex) MPKIT_THREAD_ANNOTATION(pt_guarded_by(mutex))
#define MPKIT_REQUIRES(...) MPKIT_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define MPKIT_ACQUIRE(...) MPKIT_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define MPKIT_RELEASE(...) MPKIT_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define MPKIT_TRY_ACQUIRE(...) MPKIT_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// For the lock's own implementation, which the analysis cannot follow.
#define MPKIT_NO_THREAD_SAFETY_ANALYSIS MPKIT_THREAD_ANNOTATION(no_thread_safety_analysis)
