/*
 * What a non-blocking step waits on: a few descriptors, each with the
 * direction it waits for, and a deadline. Every protocol and transport
 * step in remsess returns RMS_EAGAIN with one of these filled instead of
 * blocking; the engine (core/api/engine.c) merges them across operations
 * and the blocking API waits on one with rms__wait_block().
 */
#ifndef RMS_CORE_BASE_WAIT_H
#define RMS_CORE_BASE_WAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A step waits on at most this many descriptors (curl may try two
 * addresses at once; an SSH session has one socket). */
#define RMS_WAIT_MAX_FDS 4

/* Directions, as poll(2) spells them. */
#define RMS_WAIT_IN 0x1
#define RMS_WAIT_OUT 0x4

typedef struct rms_wait {
	struct {
		int fd;
		short events; /* RMS_WAIT_IN | RMS_WAIT_OUT */
	} fds[RMS_WAIT_MAX_FDS];
	size_t nfds;
	/* rms__now_ms() clock; 0: no deadline. */
	uint64_t deadline_ms;
} rms_wait;

/* Empty: no descriptor, no deadline. */
void rms__wait_clear(rms_wait *w);
/* Wait on fd for events as well (merged with an entry for the same fd).
 * Past RMS_WAIT_MAX_FDS descriptors the extra one is ignored and false is
 * returned: a caller that can have more must say so in its own design. */
bool rms__wait_fd(rms_wait *w, int fd, short events);
/* Wake no later than deadline_ms (the earlier of this and any already set;
 * 0 leaves it unchanged). */
void rms__wait_until(rms_wait *w, uint64_t deadline_ms);
/* Merge src into dst (descriptors and the earlier deadline). */
void rms__wait_merge(rms_wait *dst, const rms_wait *src);
/* Milliseconds until the deadline from now (0 when past), -1 for none,
 * capped at INT32_MAX. */
int rms__wait_timeout(const rms_wait *w);
/* Block until one of w's descriptors is ready or its deadline passes
 * (poll(2), EINTR retried). Returns 0, or RMS_E_INTERNAL with errno when
 * poll fails. A wait with neither descriptor nor deadline returns at once:
 * it would otherwise never end. */
int rms__wait_block(const rms_wait *w);

#endif
