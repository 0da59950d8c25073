/* clock.h - the wall clock, cheap enough to read for every event.
 *
 * Every event is stamped with its ingest time and the blackhole reads the
 * clock again for each one, so a clock read is a per-event cost. Through
 * the VM's paravirtual clock (kvm-clock) clock_gettime costs 25-28 ns;
 * the CPU's time-stamp counter costs 11. Where the CPU says its counter
 * ticks at a constant rate in every power state (the invariant TSC, cpuid
 * 0x80000007 EDX bit 8), tr_now_ns scales the counter and goes back to
 * CLOCK_REALTIME every TR_CLOCK_RESYNC_NS to correct its rate and offset,
 * so it stays within microseconds of the OS clock and follows steps of it
 * within that interval. Elsewhere it is CLOCK_REALTIME itself.
 *
 * Threading: any thread. Each thread keeps its own calibration per clock (thread
 * local, no locks); a thread's first reads, for its first
 * TR_CLOCK_CALIBRATE_NS, are clock_gettime.
 *
 * Like CLOCK_REALTIME, the result may step backwards (a clock set, or a
 * resync of up to the counter's drift over one interval): callers that
 * subtract check the order. */
#ifndef TR_CORE_CLOCK_H
#define TR_CORE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define TR_CLOCK_CALIBRATE_NS 10000000u    /* first rate measured over 10 ms */
#define TR_CLOCK_RESYNC_NS 200000000u      /* back to the OS clock every 200 ms */

/* Wall clock in ns since the Unix epoch (0 if the OS clock fails). */
uint64_t tr_now_ns(void);

/* CLOCK_MONOTONIC in ns, read the same way (its own calibration): for
 * intervals, e.g. the WAL's append-to-durable latency. Like tr_now_ns, two
 * threads' reads may disagree by a microsecond: subtract with care. */
uint64_t tr_mono_ns(void);

/* CLOCK_REALTIME in ns, always through the OS. */
uint64_t tr_clock_os_ns(void);

/* "tsc" when this thread's tr_now_ns reads come from the counter, "os" otherwise
 * (no invariant TSC, not x86-64, still calibrating, or turned off). */
const char *tr_clock_source(void);

/* Turns the counter off (false) or back on for every thread; for tests and
 * for machines whose counter is known to be bad (TREMOR_CLOCK=os at start
 * does the same). */
void tr_clock_allow_tsc(bool allow);

/* Forgets that decision (TREMOR_CLOCK is read again at the next use) and
 * this thread's calibration: tests only. */
void tr_clock_reset_for_tests(void);

#endif
