#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>

#include "error_internal.h"
#include "util.h"
#include "wait.h"

void rms__wait_clear(rms_wait *w)
{
	memset(w, 0, sizeof *w);
}

bool rms__wait_fd(rms_wait *w, int fd, short events)
{
	if (fd < 0 || !events)
		return true;
	for (size_t i = 0; i < w->nfds; i++)
		if (w->fds[i].fd == fd) {
			w->fds[i].events |= events;
			return true;
		}
	if (w->nfds == RMS_WAIT_MAX_FDS)
		return false;
	w->fds[w->nfds].fd = fd;
	w->fds[w->nfds].events = events;
	w->nfds++;
	return true;
}

void rms__wait_until(rms_wait *w, uint64_t deadline_ms)
{
	if (deadline_ms && (!w->deadline_ms || deadline_ms < w->deadline_ms))
		w->deadline_ms = deadline_ms;
}

void rms__wait_merge(rms_wait *dst, const rms_wait *src)
{
	for (size_t i = 0; i < src->nfds; i++)
		rms__wait_fd(dst, src->fds[i].fd, src->fds[i].events);
	rms__wait_until(dst, src->deadline_ms);
}

int rms__wait_timeout(const rms_wait *w)
{
	if (!w->deadline_ms)
		return -1;
	uint64_t now = rms__now_ms();
	if (w->deadline_ms <= now)
		return 0;
	uint64_t left = w->deadline_ms - now;
	return left > INT_MAX ? INT_MAX : (int)left;
}

int rms__wait_block(const rms_wait *w)
{
	if (!w->nfds && !w->deadline_ms)
		return 0;
	struct pollfd p[RMS_WAIT_MAX_FDS];
	for (size_t i = 0; i < w->nfds; i++) {
		p[i].fd = w->fds[i].fd;
		p[i].events = (short)((w->fds[i].events & RMS_WAIT_IN ? POLLIN : 0) |
		                      (w->fds[i].events & RMS_WAIT_OUT ? POLLOUT : 0));
		p[i].revents = 0;
	}
	for (;;) {
		int n = poll(p, (nfds_t)w->nfds, rms__wait_timeout(w));
		if (n >= 0)
			return 0;
		if (errno != EINTR) {
			int e = errno;
			rms__error_set(RMS_E_INTERNAL, RMS_PHASE_NONE, "poll failed: %s", strerror(e));
			rms__error_set_errno(e);
			return RMS_E_INTERNAL;
		}
	}
}
