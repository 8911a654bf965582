/*
 * scoreboard.c: the workers' shared records, see scoreboard.h.
 *
 * The seqlock follows Boehm, "Can seqlocks get along with programming
 * language memory models?" (MSPC 2012): the record is copied as relaxed
 * atomic words, so that a read racing a write is no data race, and fences
 * order the words against the sequence counter.
 */
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include "scoreboard.h"

/* Lock-free atomics are address-free: the same ones work in two processes
 * mapping the same page. */
_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "atomic long is not lock-free");

#define SB_WORDS ((sizeof(struct sb_job) + sizeof(unsigned long) - 1) / \
	sizeof(unsigned long))
#define SB_TRIES 20     /* reads of a record being written, then give up */
#define SB_SPINS 10     /* of them without yielding the CPU */

struct sb_slot {
	/* One cache line per record start: workers do not share lines. */
	_Alignas(64) atomic_ulong seq;
	atomic_ulong words[SB_WORDS];
};

struct sb_slot *
scoreboard_map(int n)
{
	void *p = mmap(NULL, (size_t)n * sizeof(struct sb_slot),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void
scoreboard_unmap(struct sb_slot *sb, int n)
{
	if (sb != NULL)
		munmap(sb, (size_t)n * sizeof(struct sb_slot));
}

struct sb_slot *
scoreboard_slot(struct sb_slot *sb, int i)
{
	return &sb[i];
}

void
sb_write(struct sb_slot *r, const struct sb_job *j)
{
	unsigned long w[SB_WORDS];
	unsigned long seq = atomic_load_explicit(&r->seq, memory_order_relaxed);

	w[SB_WORDS - 1] = 0;
	memcpy(w, j, sizeof(*j));
	atomic_store_explicit(&r->seq, seq + 1, memory_order_relaxed);
	/* The odd count is visible before any word of the new record. */
	atomic_thread_fence(memory_order_release);
	for (size_t i = 0; i < SB_WORDS; i++)
		atomic_store_explicit(&r->words[i], w[i], memory_order_relaxed);
	atomic_store_explicit(&r->seq, seq + 2, memory_order_release);
}

void
sb_reset(struct sb_slot *r)
{
	struct sb_job z;
	unsigned long seq = atomic_load_explicit(&r->seq, memory_order_relaxed);

	/* A worker that died in the middle of a write left the count odd. */
	if (seq & 1)
		atomic_store_explicit(&r->seq, seq + 1, memory_order_relaxed);
	memset(&z, 0, sizeof(z));
	sb_write(r, &z);
}

int
sb_read(struct sb_slot *r, struct sb_job *j)
{
	unsigned long w[SB_WORDS], s1, s2;

	for (int t = 0; t < SB_TRIES; t++) {
		if (t >= SB_SPINS)
			sched_yield();  /* the writer may be off the CPU */
		s1 = atomic_load_explicit(&r->seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		for (size_t i = 0; i < SB_WORDS; i++)
			w[i] = atomic_load_explicit(&r->words[i],
			    memory_order_relaxed);
		/* The words are read before the count is checked again. */
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&r->seq, memory_order_relaxed);
		if (s1 != s2)
			continue;
		memcpy(j, w, sizeof(*j));
		/* Never trust another process's strings to be terminated. */
		j->job_id[sizeof(j->job_id) - 1] = '\0';
		j->token[sizeof(j->token) - 1] = '\0';
		j->type[sizeof(j->type) - 1] = '\0';
		return 0;
	}
	return -1;
}
