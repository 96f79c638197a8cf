/*
 * Making the SSH connection of a PSSession over SSH: TCP connect with a
 * deadline, the SSH handshake, the host key checked against known_hosts
 * (unknown: refused, or recorded when the caller accepts new keys; changed:
 * always refused), and authentication (key file, ssh-agent, password,
 * keyboard-interactive), each failure raised with its phase.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "ssh.h"

/* ---- errors ------------------------------------------------------------- */

bool rms__ssh_socket_error(int e)
{
	return e == LIBSSH2_ERROR_SOCKET_DISCONNECT || e == LIBSSH2_ERROR_SOCKET_SEND ||
	       e == LIBSSH2_ERROR_SOCKET_RECV || e == LIBSSH2_ERROR_SOCKET_TIMEOUT ||
	       e == LIBSSH2_ERROR_SOCKET_NONE || e == LIBSSH2_ERROR_BANNER_RECV ||
	       e == LIBSSH2_ERROR_BANNER_SEND;
}

bool rms__ssh_channel_error(int e)
{
	return e == LIBSSH2_ERROR_CHANNEL_FAILURE || e == LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED ||
	       e == LIBSSH2_ERROR_CHANNEL_UNKNOWN || e == LIBSSH2_ERROR_CHANNEL_CLOSED ||
	       e == LIBSSH2_ERROR_CHANNEL_EOF_SENT || e == LIBSSH2_ERROR_CHANNEL_WINDOW_EXCEEDED ||
	       e == LIBSSH2_ERROR_CHANNEL_PACKET_EXCEEDED || e == LIBSSH2_ERROR_CHANNEL_OUTOFORDER;
}

bool rms__ssh_transport_error(int e)
{
	return rms__ssh_socket_error(e) || e == LIBSSH2_ERROR_TIMEOUT ||
	       e == LIBSSH2_ERROR_DECRYPT || e == LIBSSH2_ERROR_INVALID_MAC ||
	       e == LIBSSH2_ERROR_PROTO || e == LIBSSH2_ERROR_KEX_FAILURE ||
	       e == LIBSSH2_ERROR_ENCRYPT || e == LIBSSH2_ERROR_COMPRESS;
}

int rms__ssh_error(struct ssh_conn *c, int code, rms_phase phase, const char *what)
{
	char *msg = NULL;
	int e = c->ssh ? libssh2_session_last_error(c->ssh, &msg, NULL, 0) : 0;
	rms__error_set(code, phase, "%s failed: %s (libssh2 error %d)", what,
	               msg && *msg ? msg : "no details", e);
	rms__error_set_ssh(e);
	return code;
}

/* ---- waiting on the socket ---------------------------------------------- */

void rms__ssh_wait_fill(struct ssh_conn *c, rms_wait *w, short extra, uint64_t deadline)
{
	int dir = c->ssh ? libssh2_session_block_directions(c->ssh) : 0;
	short ev = extra;
	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		ev |= RMS_WAIT_IN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		ev |= RMS_WAIT_OUT;
	rms__wait_fd(w, c->fd, ev ? ev : RMS_WAIT_IN);
	rms__wait_until(w, deadline);
}

int rms__ssh_block(struct ssh_conn *c, uint64_t deadline, uint32_t limit_ms, rms_phase phase,
                   const char *what)
{
	if (rms__now_ms() >= deadline)
		return rms__error_set(RMS_E_TIMEOUT, phase, "%s did not complete within %u ms",
		                      what, limit_ms);
	rms_wait w;
	rms__wait_clear(&w);
	rms__ssh_wait_fill(c, &w, 0, deadline);
	return rms__wait_block(&w);
}

/* libssh2 reads the socket through this, so that the bytes a step read
 * can be counted (struct ssh_conn, rx_bytes). */
static LIBSSH2_RECV_FUNC(counting_recv)
{
	struct ssh_conn *c = *abstract;
	ssize_t n = recv(socket, buffer, length, flags);
	if (n < 0)
		return -errno;
	c->rx_bytes += (uint64_t)n;
	return n;
}

/* ---- host keys ---------------------------------------------------------- */

struct key_kind {
	int hostkey_type;  /* LIBSSH2_HOSTKEY_TYPE_* */
	int knownhost_bit; /* LIBSSH2_KNOWNHOST_KEY_* */
	const char *methods;
	const char *name;
};

/* Preference order when nothing is recorded for the host: OpenSSH's. */
static const struct key_kind kinds[] = {
    {LIBSSH2_HOSTKEY_TYPE_ED25519, LIBSSH2_KNOWNHOST_KEY_ED25519, "ssh-ed25519", "ED25519"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_256, LIBSSH2_KNOWNHOST_KEY_ECDSA_256, "ecdsa-sha2-nistp256",
     "ECDSA-256"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_384, "ecdsa-sha2-nistp384",
     "ECDSA-384"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_ECDSA_521, "ecdsa-sha2-nistp521",
     "ECDSA-521"},
    {LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "rsa-sha2-512,rsa-sha2-256,ssh-rsa",
     "RSA"},
    {LIBSSH2_HOSTKEY_TYPE_DSS, LIBSSH2_KNOWNHOST_KEY_SSHDSS, "ssh-dss", "DSA"},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

struct hostkeys {
	LIBSSH2_KNOWNHOSTS *kh;
	LIBSSH2_KNOWNHOSTS *revoked; /* the keys of @revoked lines */
	/* The name the host has in known_hosts, as OpenSSH writes it: lower
	 * case, "[host]:port" for a port other than 22. */
	char *name;
	bool hashed; /* the file has hashed names: new ones are hashed too */
	char *path;
	bool file_missing;
	unsigned recorded; /* bit i: kinds[i] is recorded for this host */
};

static char *default_known_hosts(void)
{
	const char *home = getenv("HOME");
	if (!home || !*home) {
		struct passwd pw, *res = NULL;
		char buf[4096];
		if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res)
			return rms__asprintf("%s/.ssh/known_hosts", pw.pw_dir);
		return NULL;
	}
	return rms__asprintf("%s/.ssh/known_hosts", home);
}

/* Check with the exact name (port -1: libssh2 would also try the bare host
 * for another port, which OpenSSH does not). */
static int check_in(LIBSSH2_KNOWNHOSTS *kh, const struct hostkeys *h, const char *key, size_t len,
                    int bit)
{
	return libssh2_knownhost_checkp(
	    kh, h->name, -1, key, len,
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | bit, NULL);
}

static int check_key(struct hostkeys *h, const char *key, size_t len, int bit)
{
	return check_in(h->kh, h, key, len, bit);
}

static char *known_hosts_name(const struct ssh_conn *c)
{
	char *name = c->port == 22 ? strdup(c->host) : rms__asprintf("[%s]:%u", c->host, c->port);
	for (char *q = name; q && *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	return name;
}

/* A |1|salt|hash field: both parts base64 of exactly 20 bytes (HMAC-SHA1),
 * as OpenSSH writes them. */
static bool hashed_host_ok(const char *p, size_t n)
{
	if (n < 3 || memcmp(p, "|1|", 3) != 0)
		return false;
	p += 3;
	n -= 3;
	const char *bar = memchr(p, '|', n);
	if (!bar)
		return false;
	const char *part[2] = {p, bar + 1};
	size_t len[2] = {(size_t)(bar - p), n - (size_t)(bar - p) - 1};
	for (int k = 0; k < 2; k++) {
		unsigned char out[32];
		/* 20 bytes are 27 base64 characters and one '=' of padding
		 * (OpenSSL would also decode a '=' inside the text). */
		if (len[k] != 28 || part[k][27] != '=')
			return false;
		for (size_t j = 0; j < 27; j++) {
			char ch = part[k][j];
			if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			      (ch >= '0' && ch <= '9') || ch == '+' || ch == '/'))
				return false;
		}
		char in[29];
		memcpy(in, part[k], 28);
		in[28] = '\0';
		if (EVP_DecodeBlock(out, (const unsigned char *)in, 28) != 21)
			return false;
	}
	return true;
}

enum rms_kh_line rms__known_hosts_line(const char *line, size_t n, size_t *at)
{
	size_t i = 0;
	*at = 0;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == n || line[i] == '#' || line[i] == '\n' || line[i] == '\r')
		return RMS_KH_SKIP;
	enum rms_kh_line kind = RMS_KH_KNOWN;
	if (line[i] == '@') {
		/* Markers: libssh2 would take one for a host name. A revoked
		 * key goes to its own list; @cert-authority (certificates are
		 * not supported) is skipped. */
		size_t m = strcspn(line + i, " \t\n");
		if (m != 8 || strncmp(line + i, "@revoked", 8) != 0)
			return RMS_KH_UNSUPPORTED;
		i += m;
		while (i < n && (line[i] == ' ' || line[i] == '\t'))
			i++;
		kind = RMS_KH_REVOKED;
	}
	*at = i;
	if (i < n && line[i] == '|') {
		size_t m = 0;
		while (i + m < n && line[i + m] != ' ' && line[i + m] != '\t' && line[i + m] != '\n')
			m++;
		if (!hashed_host_ok(line + i, m))
			return RMS_KH_MALFORMED;
	}
	return kind;
}

/* Read the known_hosts file line by line: a line libssh2 cannot parse
 * (a key type it does not know, @cert-authority) is skipped, not fatal. */
static int load_known_hosts(rms_session *s, struct ssh_conn *c, struct hostkeys *h)
{
	h->path = s->opts.ssh.known_hosts ? strdup(s->opts.ssh.known_hosts) : default_known_hosts();
	if (!h->path)
		return s->opts.ssh.known_hosts
		           ? rms__error_nomem()
		           : rms__error_set(RMS_E_HOST_KEY, RMS_PHASE_CONNECT,
		                            "no known_hosts file: HOME is not set; "
		                            "set ssh.known_hosts");
	if (!(h->name = known_hosts_name(c)))
		return rms__error_nomem();
	if (!(h->kh = libssh2_knownhost_init(c->ssh)) ||
	    !(h->revoked = libssh2_knownhost_init(c->ssh)))
		return rms__ssh_error(c, RMS_E_SSH, RMS_PHASE_CONNECT, "libssh2_knownhost_init");
	FILE *f = fopen(h->path, "r");
	if (!f) {
		int err = errno;
		if (err == ENOENT && s->opts.ssh.accept_new_host_key) {
			h->file_missing = true;
			return 0;
		}
		rms__error_set(RMS_E_HOST_KEY, RMS_PHASE_CONNECT,
		               "the known_hosts file %s cannot be read (%s), so the host key of %s "
		               "cannot be verified",
		               h->path, strerror(err), c->host);
		rms__error_set_errno(err);
		return RMS_E_HOST_KEY;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned skipped = 0;
	unsigned lineno = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		size_t at;
		enum rms_kh_line kind = rms__known_hosts_line(line, (size_t)n, &at);
		if (kind == RMS_KH_SKIP)
			continue;
		if (kind == RMS_KH_MALFORMED) {
			/* libssh2 1.10 leaks what it allocated for such a line. */
			rms__log(&s->log, RMS_LOG_WARNING,
			         "%s: %s line %u skipped: a hashed host name whose salt or hash is "
			         "not 20 bytes of base64",
			         s->name, h->path, lineno);
			skipped++;
			continue;
		}
		if (kind == RMS_KH_UNSUPPORTED) {
			skipped++;
			continue;
		}
		if (line[at] == '|')
			h->hashed = true;
		if (libssh2_knownhost_readline(kind == RMS_KH_REVOKED ? h->revoked : h->kh, line + at,
		                               (size_t)n - at, LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0)
			skipped++;
	}
	free(line);
	fclose(f);
	if (skipped)
		rms__log(&s->log, RMS_LOG_DEBUG, "%s: %u line(s) of %s skipped (not understood)",
		         s->name, skipped, h->path);
	/* Which key types are recorded for this host: a dummy key of each type
	 * is a mismatch exactly when one is. */
	static const char dummy[] = "remsess";
	for (size_t i = 0; i < NKINDS; i++)
		if (check_key(h, dummy, sizeof dummy - 1, kinds[i].knownhost_bit) ==
		    LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
			h->recorded |= 1u << i;
	return 0;
}

static bool supported(const char **algs, int n, const char *m, size_t len)
{
	for (int i = 0; i < n; i++)
		if (strlen(algs[i]) == len && strncmp(algs[i], m, len) == 0)
			return true;
	return false;
}

/* Ask the server for a host key of a recorded type first, as OpenSSH does,
 * so that a host recorded with one type is not refused for offering
 * another. Only algorithms this libssh2 supports are named: libssh2 1.10
 * corrupts the list while dropping one it does not know. */
static int set_hostkey_prefs(struct ssh_conn *c, const struct hostkeys *h)
{
	const char **algs = NULL;
	int n = libssh2_session_supported_algs(c->ssh, LIBSSH2_METHOD_HOSTKEY, &algs);
	if (n <= 0)
		return rms__ssh_error(c, RMS_E_SSH, RMS_PHASE_CONNECT,
		                      "listing host key algorithms");
	rms_buf b;
	rms__buf_init(&b);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < NKINDS; i++) {
			bool rec = h->recorded & (1u << i);
			if (rec != (pass == 0))
				continue;
			for (const char *m = kinds[i].methods; *m;) {
				size_t len = strcspn(m, ",");
				if (supported(algs, n, m, len)) {
					if (b.len)
						rms__buf_puts(&b, ",");
					rms__buf_append(&b, m, len);
				}
				m += len + (m[len] == ',');
			}
		}
	libssh2_free(c->ssh, (void *)algs);
	if (b.failed || !b.len) {
		bool failed = b.failed;
		rms__buf_free(&b);
		return failed ? rms__error_nomem()
		              : rms__error_set(RMS_E_SSH, RMS_PHASE_CONNECT,
		                               "libssh2 supports none of the host key algorithms "
		                               "remsess can verify");
	}
	int rc = libssh2_session_method_pref(c->ssh, LIBSSH2_METHOD_HOSTKEY, b.data);
	rms__buf_free(&b);
	if (rc)
		return rms__ssh_error(c, RMS_E_SSH, RMS_PHASE_CONNECT,
		                      "choosing host key algorithms");
	return 0;
}

/* "ED25519 SHA256:base64" as OpenSSH prints fingerprints. */
static void fingerprint(struct ssh_conn *c, const struct key_kind *k, char *out, size_t size)
{
	const unsigned char *hash =
	    (const unsigned char *)libssh2_hostkey_hash(c->ssh, LIBSSH2_HOSTKEY_HASH_SHA256);
	unsigned char b64[64] = "";
	if (hash) {
		EVP_EncodeBlock(b64, hash, 32);
		char *eq = strchr((char *)b64, '=');
		if (eq)
			*eq = '\0';
	}
	snprintf(out, size, "%s SHA256:%s", k ? k->name : "unknown", hash ? (char *)b64 : "?");
}

/* OpenSSH's hashed name (HashKnownHosts): "|1|" base64(salt) "|"
 * base64(HMAC-SHA1(salt, name)), salt 20 random bytes. */
static bool hash_name(const char *name, char salt64[32], char hash64[32])
{
	unsigned char salt[20], mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	if (RAND_bytes(salt, sizeof salt) != 1 ||
	    !HMAC(EVP_sha1(), salt, sizeof salt, (const unsigned char *)name, strlen(name), mac,
	          &maclen) ||
	    maclen != 20)
		return false;
	EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof salt);
	EVP_EncodeBlock((unsigned char *)hash64, mac, 20);
	return true;
}

static int record_key(const rms_logger *log, struct ssh_conn *c, struct hostkeys *h,
                      const char *key, size_t len, int bit)
{
	struct libssh2_knownhost *node = NULL;
	int rc;
	char salt64[32], hash64[32];
	if (h->hashed && hash_name(h->name, salt64, hash64))
		rc = libssh2_knownhost_addc(
		    h->kh, hash64, salt64, key, len, NULL, 0,
		    LIBSSH2_KNOWNHOST_TYPE_SHA1 | LIBSSH2_KNOWNHOST_KEYENC_RAW | bit, &node);
	else
		rc = libssh2_knownhost_addc(
		    h->kh, h->name, NULL, key, len, NULL, 0,
		    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | bit, &node);
	if (rc)
		return rms__ssh_error(c, RMS_E_HOST_KEY, RMS_PHASE_CONNECT,
		                      "recording the host key");
	char line[16384];
	size_t outlen = 0;
	if (libssh2_knownhost_writeline(h->kh, node, line, sizeof line, &outlen,
	                                LIBSSH2_KNOWNHOST_FILE_OPENSSH))
		return rms__ssh_error(c, RMS_E_HOST_KEY, RMS_PHASE_CONNECT,
		                      "formatting the host key");
	/* Append, never rewrite: the file may hold lines libssh2 does not
	 * understand. Start on a fresh line if the last one is unterminated. */
	int fd = open(h->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT) {
		/* Its directory is missing (a fresh account's ~/.ssh): made as
		 * OpenSSH makes it, one level, mode 0700. */
		char *dir = strdup(h->path);
		char *slash = dir ? strrchr(dir, '/') : NULL;
		if (slash && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0700) == 0)
				rms__log(log, RMS_LOG_INFO, "created %s (mode 0700) for %s", dir,
				         h->path);
		}
		free(dir);
		fd = open(h->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	}
	if (fd < 0) {
		int err = errno;
		rms__error_set(RMS_E_HOST_KEY, RMS_PHASE_CONNECT,
		               "the new host key of %s cannot be recorded in %s: %s", c->host,
		               h->path, strerror(err));
		rms__error_set_errno(err);
		return RMS_E_HOST_KEY;
	}
	bool ok = true;
	int err = 0;
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		char last = '\n';
		if (pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n') {
			ssize_t w = write(fd, "\n", 1);
			ok = w == 1;
			err = w < 0 ? errno : ENOSPC;
		}
	}
	if (ok) {
		ssize_t w = write(fd, line, outlen);
		ok = w == (ssize_t)outlen;
		/* A short write sets no errno: the disk is full. */
		err = w < 0 ? errno : ENOSPC;
	}
	if (close(fd) != 0 && ok) {
		ok = false;
		err = errno;
	}
	if (!ok) {
		rms__error_set(RMS_E_HOST_KEY, RMS_PHASE_CONNECT,
		               "writing the new host key of %s to %s failed: %s", c->host, h->path,
		               strerror(err));
		rms__error_set_errno(err);
		return RMS_E_HOST_KEY;
	}
	return 0;
}

static int verify_host_key(rms_session *s, struct ssh_conn *c, struct hostkeys *h)
{
	size_t len = 0;
	int type = 0;
	const char *key = libssh2_session_hostkey(c->ssh, &len, &type);
	if (!key)
		return rms__ssh_error(c, RMS_E_HOST_KEY, RMS_PHASE_CONNECT,
		                      "reading the server's host key");
	const struct key_kind *k = NULL;
	for (size_t i = 0; i < NKINDS; i++)
		if (kinds[i].hostkey_type == type)
			k = &kinds[i];
	char fp[128];
	fingerprint(c, k, fp, sizeof fp);
	if (!k)
		return rms__error_set(RMS_E_HOST_KEY, RMS_PHASE_CONNECT,
		                      "the host key of %s port %u has a type remsess does not know "
		                      "(libssh2 type %d)",
		                      c->host, c->port, type);
	if (check_in(h->revoked, h, key, len, k->knownhost_bit) == LIBSSH2_KNOWNHOST_CHECK_MATCH)
		return rms__error_set(RMS_E_HOST_KEY, RMS_PHASE_CONNECT,
		                      "the host key of %s port %u (%s) is marked @revoked in %s; "
		                      "refused",
		                      c->host, c->port, fp, h->path);
	int r = check_key(h, key, len, k->knownhost_bit);
	switch (r) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		rms__log(&s->log, RMS_LOG_DEBUG, "%s: host key %s matches %s", s->name, fp,
		         h->path);
		return 0;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		return rms__error_set(
		    RMS_E_HOST_KEY, RMS_PHASE_CONNECT,
		    "the host key of %s port %u (%s) differs from the one recorded "
		    "in %s: the key changed, or someone is intercepting the "
		    "connection; refused (a changed key is never accepted "
		    "automatically: remove the old entry if the change is known)",
		    c->host, c->port, fp, h->path);
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		if (h->recorded)
			return rms__error_set(
			    RMS_E_HOST_KEY, RMS_PHASE_CONNECT,
			    "%s port %u offered a %s host key (%s) but %s records "
			    "only keys of other types for it; refused as a changed "
			    "key",
			    c->host, c->port, k->name, fp, h->path);
		if (!s->opts.ssh.accept_new_host_key)
			return rms__error_set(
			    RMS_E_HOST_KEY, RMS_PHASE_CONNECT,
			    "the host key of %s port %u (%s) is not in %s; add it "
			    "(e.g. with ssh-keyscan, after checking the fingerprint) "
			    "or set ssh.accept_new_host_key to record it",
			    c->host, c->port, fp, h->path);
		if ((r = record_key(&s->log, c, h, key, len, k->knownhost_bit)))
			return r;
		rms__log(&s->log, RMS_LOG_WARNING,
		         "%s: recorded the new host key of %s port %u (%s) "
		         "in %s",
		         s->name, c->host, c->port, fp, h->path);
		return 0;
	default:
		return rms__ssh_error(c, RMS_E_HOST_KEY, RMS_PHASE_CONNECT,
		                      "checking the host key");
	}
}

/* ---- the state of a connection being made ------------------------------- */

enum cx_phase { CX_TCP, CX_HANDSHAKE, CX_AUTH_LIST, CX_AUTH, CX_DONE };

/* Authentication methods in the order they are tried. */
enum auth_method { AUTH_KEY, AUTH_AGENT, AUTH_PASSWORD, AUTH_KBD, AUTH_END };

struct agent_try {
	LIBSSH2_AGENT *agent;
	/* prev: the last identity tried to its end; cur: the one whose
	 * libssh2_agent_userauth returned EAGAIN (called again with it). */
	struct libssh2_agent_publickey *prev, *cur;
	unsigned tried;
};

struct ssh_connecting {
	enum cx_phase phase;
	uint32_t limit;
	uint64_t deadline; /* of the current phase */
	/* TCP: the addresses, the one being tried, the last connect error. */
	struct addrinfo *addrs, *ai;
	int conn_err;
	struct hostkeys h;
	/* Authentication: what the server offers (a copy), the method being
	 * tried, and why the ones before it did not log in. */
	char *methods;
	enum auth_method method;
	bool method_begun;
	rms_buf why;
	struct agent_try ag;
};

/* Wait for the socket after EAGAIN, or time out once the phase's deadline
 * has passed (checked after the call, as a call may finish at the last
 * moment). */
static int cx_again(struct ssh_conn *c, rms_wait *w, rms_phase phase, const char *what)
{
	struct ssh_connecting *cx = c->cx;
	if (rms__now_ms() >= cx->deadline)
		return rms__error_set(RMS_E_TIMEOUT, phase, "%s did not complete within %u ms",
		                      what, cx->limit);
	rms__ssh_wait_fill(c, w, 0, cx->deadline);
	return RMS_EAGAIN;
}

static void enter(struct ssh_connecting *cx, enum cx_phase phase)
{
	cx->phase = phase;
	cx->deadline = rms__now_ms() + cx->limit;
}

/* ---- TCP ---------------------------------------------------------------- */

/* Start connecting to the next address: RMS_EAGAIN while a connect is in
 * progress, 0 when one connected at once, RMS_E_CONNECT when none is left. */
static int tcp_next(struct ssh_conn *c, struct ssh_connecting *cx)
{
	for (; cx->ai; cx->ai = cx->ai->ai_next) {
		const struct addrinfo *ai = cx->ai;
		int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			cx->conn_err = errno;
			continue;
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->fd = fd;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			return 0;
		if (errno == EINPROGRESS)
			return RMS_EAGAIN;
		cx->conn_err = errno;
		close(fd);
		c->fd = -1;
	}
	rms__error_set(RMS_E_CONNECT, RMS_PHASE_CONNECT,
	               "could not connect to SSH server %s port %u: %s", c->host, c->port,
	               strerror(cx->conn_err));
	rms__error_set_errno(cx->conn_err);
	return RMS_E_CONNECT;
}

/* The connect in progress: 0 connected, RMS_EAGAIN (w filled), or the
 * failure once no address is left or the deadline has passed. */
static int tcp_step(struct ssh_conn *c, struct ssh_connecting *cx, rms_wait *w)
{
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLOUT};
		if (poll(&p, 1, 0) <= 0) {
			if (rms__now_ms() >= cx->deadline) {
				close(c->fd);
				c->fd = -1;
				return rms__error_set(RMS_E_TIMEOUT, RMS_PHASE_CONNECT,
				                      "could not connect to SSH server %s port %u "
				                      "within %u ms",
				                      c->host, c->port, cx->limit);
			}
			rms__wait_fd(w, c->fd, RMS_WAIT_OUT);
			rms__wait_until(w, cx->deadline);
			return RMS_EAGAIN;
		}
		int soerr = 0;
		socklen_t len = sizeof soerr;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (!soerr)
			return 0;
		cx->conn_err = soerr;
		close(c->fd);
		c->fd = -1;
		cx->ai = cx->ai->ai_next;
		int rc = tcp_next(c, cx);
		if (rc != RMS_EAGAIN)
			return rc;
	}
}

/* ---- authentication ----------------------------------------------------- */

static void kbd_answer(const char *name, int name_len, const char *instruction, int instruction_len,
                       int num_prompts, const LIBSSH2_USERAUTH_KBDINT_PROMPT *prompts,
                       LIBSSH2_USERAUTH_KBDINT_RESPONSE *responses, void **abstract)
{
	(void)name;
	(void)name_len;
	(void)instruction;
	(void)instruction_len;
	(void)prompts;
	struct ssh_conn *c = *abstract;
	/* Every prompt gets the password (what sshd's PAM conversation asks
	 * for); a server that keeps asking gets nothing after a few. */
	for (int i = 0; i < num_prompts; i++) {
		if (c->kbd_prompts++ >= 4 || !c->password)
			continue;
		size_t n = strlen(c->password);
		struct ssh_secret *slot = NULL;
		for (size_t j = 0; j < sizeof c->secrets / sizeof c->secrets[0]; j++)
			if (!c->secrets[j].ptr)
				slot = &c->secrets[j];
		if (!slot)
			continue;
		/* libssh2 frees the answer with the session's free function,
		 * ssh_free, which wipes it first. */
		responses[i].text = malloc(n + 1);
		if (responses[i].text) {
			memcpy(responses[i].text, c->password, n + 1);
			responses[i].length = (unsigned)n;
			slot->ptr = responses[i].text;
			slot->len = n + 1;
		}
	}
}

static bool offered(const char *methods, const char *m)
{
	size_t n = strlen(m);
	for (const char *p = methods; p && *p;) {
		size_t l = strcspn(p, ",");
		if (l == n && strncmp(p, m, n) == 0)
			return true;
		p += l + (p[l] == ',');
	}
	return false;
}

/* What a method gives: logged in, or not by this method (try the next). */
enum { AUTH_OK = 0, AUTH_REJECTED = 1 };

/* libssh2's answer to an authentication call: AUTH_OK, RMS_EAGAIN, the
 * connection lost (an error), or AUTH_REJECTED for the caller to explain. */
static int auth_result(struct ssh_conn *c, int r, const char *what)
{
	if (r == 0)
		return AUTH_OK;
	if (r == LIBSSH2_ERROR_EAGAIN)
		return RMS_EAGAIN;
	if (rms__ssh_socket_error(r))
		return rms__ssh_error(c, RMS_E_CONNECTION_LOST, RMS_PHASE_AUTHENTICATE, what);
	return AUTH_REJECTED;
}

static int auth_key(rms_session *s, struct ssh_conn *c, struct ssh_connecting *cx)
{
	const char *user = s->opts.user, *file = s->opts.ssh.identity_file;
	if (!file)
		return AUTH_REJECTED;
	if (!offered(cx->methods, "publickey")) {
		rms__buf_puts(&cx->why, "; key file: the server does not offer publickey");
		return AUTH_REJECTED;
	}
	int r = libssh2_userauth_publickey_fromfile_ex(c->ssh, user, (unsigned)strlen(user), NULL,
	                                               file, NULL);
	int rc = auth_result(c, r, "SSH public key authentication");
	if (rc == AUTH_OK)
		rms__log(&s->log, RMS_LOG_INFO, "%s: authenticated with the key %s", s->name,
		         file);
	else if (rc == AUTH_REJECTED && r == LIBSSH2_ERROR_FILE)
		rms__buf_printf(&cx->why,
		                "; key file %s: could not be read or decoded (an encrypted key, "
		                "or a format libssh2 cannot read)",
		                file);
	else if (rc == AUTH_REJECTED)
		rms__buf_printf(&cx->why, "; key file %s: rejected by the server", file);
	return rc;
}

static void agent_end(struct agent_try *ag)
{
	if (ag->agent) {
		libssh2_agent_disconnect(ag->agent);
		libssh2_agent_free(ag->agent);
	}
	memset(ag, 0, sizeof *ag);
}

/* Reach the agent and list its identities (a local socket: libssh2 talks
 * to it blocking). AUTH_OK when it can be asked, AUTH_REJECTED when not. */
static int agent_begin(struct ssh_conn *c, struct ssh_connecting *cx)
{
	struct agent_try *ag = &cx->ag;
	if (!(ag->agent = libssh2_agent_init(c->ssh)))
		return rms__error_nomem();
	if (libssh2_agent_connect(ag->agent)) {
		rms__buf_printf(&cx->why, "; ssh-agent: not reachable (%s)",
		                getenv("SSH_AUTH_SOCK") ? "SSH_AUTH_SOCK does not answer"
		                                        : "SSH_AUTH_SOCK is not set");
		libssh2_agent_free(ag->agent);
		ag->agent = NULL;
		return AUTH_REJECTED;
	}
	if (libssh2_agent_list_identities(ag->agent)) {
		rms__buf_puts(&cx->why, "; ssh-agent: could not list its identities");
		agent_end(ag);
		return AUTH_REJECTED;
	}
	return AUTH_OK;
}

/* The agent's identities one after the other. */
static int auth_agent(rms_session *s, struct ssh_conn *c, struct ssh_connecting *cx)
{
	struct agent_try *ag = &cx->ag;
	int rc;
	if (!s->opts.ssh.use_agent)
		return AUTH_REJECTED;
	if (!cx->method_begun) {
		if (!offered(cx->methods, "publickey")) {
			rms__buf_puts(&cx->why, "; ssh-agent: the server does not offer publickey");
			return AUTH_REJECTED;
		}
		if ((rc = agent_begin(c, cx)) != AUTH_OK)
			return rc;
		cx->method_begun = true;
	}
	for (;;) {
		if (!ag->cur) {
			if (libssh2_agent_get_identity(ag->agent, &ag->cur, ag->prev) != 0)
				break;
			ag->tried++;
		}
		rc = auth_result(c, libssh2_agent_userauth(ag->agent, s->opts.user, ag->cur),
		                 "SSH authentication with the agent");
		if (rc == RMS_EAGAIN)
			return rc;
		if (rc == AUTH_OK)
			rms__log(&s->log, RMS_LOG_INFO, "%s: authenticated with the agent key %s",
			         s->name, ag->cur->comment ? ag->cur->comment : "");
		if (rc != AUTH_REJECTED) {
			agent_end(ag);
			return rc;
		}
		ag->prev = ag->cur;
		ag->cur = NULL;
	}
	rms__buf_printf(&cx->why, "; ssh-agent: %u key(s) rejected", ag->tried);
	agent_end(ag);
	return AUTH_REJECTED;
}

static int auth_password(rms_session *s, struct ssh_conn *c, struct ssh_connecting *cx)
{
	const char *user = s->opts.user, *pw = s->opts.password;
	if (!pw)
		return AUTH_REJECTED;
	if (!offered(cx->methods, "password")) {
		if (!offered(cx->methods, "keyboard-interactive"))
			/* "password login", not "password:": a log line's
			 * redaction takes "password: X" for a secret. */
			rms__buf_puts(&cx->why, "; password login: the server offers neither password "
			                        "nor keyboard-interactive");
		return AUTH_REJECTED;
	}
	int r = libssh2_userauth_password_ex(c->ssh, user, (unsigned)strlen(user), pw,
	                                     (unsigned)strlen(pw), NULL);
	int rc = auth_result(c, r, "SSH password authentication");
	if (rc == AUTH_OK)
		rms__log(&s->log, RMS_LOG_INFO, "%s: authenticated with a password", s->name);
	else if (rc == AUTH_REJECTED)
		rms__buf_puts(&cx->why, r == LIBSSH2_ERROR_PASSWORD_EXPIRED
		                            ? "; password login: the password has expired"
		                            : "; password login: rejected");
	return rc;
}

static int auth_kbd(rms_session *s, struct ssh_conn *c, struct ssh_connecting *cx)
{
	const char *user = s->opts.user;
	if (!s->opts.password || !offered(cx->methods, "keyboard-interactive"))
		return AUTH_REJECTED;
	if (!cx->method_begun) {
		c->kbd_prompts = 0;
		cx->method_begun = true;
	}
	int rc = auth_result(c,
	                     libssh2_userauth_keyboard_interactive_ex(c->ssh, user,
	                                                              (unsigned)strlen(user),
	                                                              kbd_answer),
	                     "SSH keyboard-interactive authentication");
	if (rc == AUTH_OK)
		rms__log(&s->log, RMS_LOG_INFO, "%s: authenticated with keyboard-interactive",
		         s->name);
	else if (rc == AUTH_REJECTED)
		rms__buf_puts(&cx->why, "; keyboard-interactive: rejected");
	return rc;
}

/* Ask for the methods the server offers (a server may let the user in
 * there and then: phase CX_DONE). 0, RMS_EAGAIN, or the failure. */
static int auth_list(rms_session *s, struct ssh_conn *c, struct ssh_connecting *cx)
{
	const char *user = s->opts.user;
	char *list = libssh2_userauth_list(c->ssh, user, (unsigned)strlen(user));
	if (!list) {
		if (libssh2_session_last_errno(c->ssh) == LIBSSH2_ERROR_EAGAIN)
			return RMS_EAGAIN;
		if (libssh2_userauth_authenticated(c->ssh)) {
			rms__log(&s->log, RMS_LOG_INFO,
			         "%s: the server accepted user %s without authentication", s->name,
			         user);
			cx->phase = CX_DONE;
			return 0;
		}
		return rms__ssh_error(c, RMS_E_AUTH, RMS_PHASE_AUTHENTICATE,
		                      "asking the server for its authentication methods");
	}
	/* list is owned by the session and valid until the next libssh2 call. */
	if (!(cx->methods = strdup(list)))
		return rms__error_nomem();
	rms__log(&s->log, RMS_LOG_DEBUG, "%s: server offers authentication: %s", s->name,
	         cx->methods);
	cx->phase = CX_AUTH;
	cx->method = AUTH_KEY;
	return 0;
}

static int auth_failed(rms_session *s, struct ssh_conn *c, struct ssh_connecting *cx)
{
	rms__error_set(RMS_E_AUTH, RMS_PHASE_AUTHENTICATE,
	               "SSH authentication as '%s' on %s port %u failed%s (the server offers: %s)",
	               s->opts.user, c->host, c->port,
	               cx->why.failed || !cx->why.data ? "" : cx->why.data, cx->methods);
	rms__error_set_ssh(libssh2_session_last_errno(c->ssh));
	return RMS_E_AUTH;
}

/* Try the methods in turn: 0 when one logged in, RMS_EAGAIN, or the
 * failure (RMS_E_AUTH saying why each method did not log in). */
static int auth_methods(rms_session *s, struct ssh_conn *c, struct ssh_connecting *cx)
{
	static int (*const try_method[AUTH_END])(rms_session *, struct ssh_conn *,
	                                         struct ssh_connecting *) = {
	    [AUTH_KEY] = auth_key,
	    [AUTH_AGENT] = auth_agent,
	    [AUTH_PASSWORD] = auth_password,
	    [AUTH_KBD] = auth_kbd,
	};
	while (cx->method < AUTH_END) {
		int rc = try_method[cx->method](s, c, cx);
		if (rc != AUTH_REJECTED) {
			if (rc == AUTH_OK)
				cx->phase = CX_DONE;
			return rc;
		}
		cx->method++;
		cx->method_begun = false;
	}
	return auth_failed(s, c, cx);
}

/* ---- the whole of it ---------------------------------------------------- */

/* libssh2's memory functions: malloc's, except that a password copy handed
 * to libssh2 (a keyboard-interactive answer) is wiped before it is freed. */
static void *ssh_alloc(size_t n, void **abstract)
{
	(void)abstract;
	return malloc(n);
}

static void *ssh_realloc(void *p, size_t n, void **abstract)
{
	(void)abstract;
	return realloc(p, n);
}

static void ssh_free(void *p, void **abstract)
{
	struct ssh_conn *c = *abstract;
	if (p && c)
		for (size_t j = 0; j < sizeof c->secrets / sizeof c->secrets[0]; j++)
			if (c->secrets[j].ptr == p) {
				volatile unsigned char *v = p;
				for (size_t k = 0; k < c->secrets[j].len; k++)
					v[k] = 0;
				c->secrets[j].ptr = NULL;
			}
	free(p);
}

/* TCP is up: count the connection, make libssh2's session and get the host
 * keys ready (no network). */
static int after_tcp(rms_session *s, struct ssh_conn *c, struct ssh_connecting *cx)
{
	int rc;
	s->stats.connections_opened++;
	s->stats.connections_open++;
	c->counted = true;
	c->connected = true;
	rms__log(&s->log, RMS_LOG_DEBUG, "%s: TCP connection to %s port %u", s->name, c->host,
	         c->port);
	if (!(c->ssh = libssh2_session_init_ex(ssh_alloc, ssh_free, ssh_realloc, c)))
		return rms__error_nomem();
	libssh2_session_set_blocking(c->ssh, 0);
	/* libssh2 takes every callback as a void *. */
	union {
		LIBSSH2_RECV_FUNC((*fn));
		void *ptr;
	} recv_cb = {.fn = counting_recv};
	libssh2_session_callback_set(c->ssh, LIBSSH2_CALLBACK_RECV, recv_cb.ptr);
	if ((rc = load_known_hosts(s, c, &cx->h)) || (rc = set_hostkey_prefs(c, &cx->h)))
		return rc;
	enter(cx, CX_HANDSHAKE);
	return 0;
}

static int handshake(rms_session *s, struct ssh_conn *c, struct ssh_connecting *cx, rms_wait *w)
{
	int r = libssh2_session_handshake(c->ssh, c->fd);
	if (r == LIBSSH2_ERROR_EAGAIN)
		return cx_again(c, w, RMS_PHASE_CONNECT, "the SSH handshake");
	if (r)
		return rms__ssh_error(c, rms__ssh_socket_error(r) ? RMS_E_CONNECTION_LOST : RMS_E_SSH,
		                      RMS_PHASE_CONNECT, "the SSH handshake");
	c->handshaken = true;
	int rc = verify_host_key(s, c, &cx->h);
	if (!rc)
		enter(cx, CX_AUTH_LIST);
	return rc;
}

void rms__ssh_connect_free(struct ssh_conn *c)
{
	struct ssh_connecting *cx = c->cx;
	if (!cx)
		return;
	agent_end(&cx->ag);
	if (cx->h.kh)
		libssh2_knownhost_free(cx->h.kh);
	if (cx->h.revoked)
		libssh2_knownhost_free(cx->h.revoked);
	free(cx->h.path);
	free(cx->h.name);
	if (cx->addrs)
		freeaddrinfo(cx->addrs);
	free(cx->methods);
	rms__buf_free(&cx->why);
	free(cx);
	c->cx = NULL;
}

int rms__ssh_connect_begin(rms_session *s, struct ssh_conn *c, uint32_t limit)
{
	struct ssh_connecting *cx = calloc(1, sizeof *cx);
	if (!cx)
		return rms__error_nomem();
	c->cx = cx;
	cx->limit = limit;
	rms__buf_init(&cx->why);
	char port[16];
	snprintf(port, sizeof port, "%u", c->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	int g = getaddrinfo(c->host, port, &hints, &cx->addrs);
	if (g != 0) {
		rms__ssh_connect_free(c);
		return rms__error_set(RMS_E_RESOLVE, RMS_PHASE_RESOLVE,
		                      "could not resolve SSH host '%s': %s", c->host,
		                      gai_strerror(g));
	}
	enter(cx, CX_TCP);
	cx->ai = cx->addrs;
	int rc = tcp_next(c, cx);
	if (rc == 0 && (rc = after_tcp(s, c, cx)) == 0)
		rc = RMS_EAGAIN; /* the handshake is for the steps */
	if (rc != RMS_EAGAIN)
		rms__ssh_connect_free(c);
	return rc;
}

int rms__ssh_connect_step(rms_session *s, struct ssh_conn *c, rms_wait *w)
{
	struct ssh_connecting *cx = c->cx;
	int rc = 0;
	rms__wait_clear(w);
	while (!rc && cx->phase != CX_DONE) {
		switch (cx->phase) {
		case CX_TCP:
			if (!(rc = tcp_step(c, cx, w)))
				rc = after_tcp(s, c, cx);
			break;
		case CX_HANDSHAKE:
			rc = handshake(s, c, cx, w);
			break;
		case CX_AUTH_LIST:
			rc = auth_list(s, c, cx);
			if (rc == RMS_EAGAIN)
				rc = cx_again(c, w, RMS_PHASE_AUTHENTICATE, "SSH authentication");
			break;
		case CX_AUTH:
			rc = auth_methods(s, c, cx);
			if (rc == RMS_EAGAIN)
				rc = cx_again(c, w, RMS_PHASE_AUTHENTICATE, "SSH authentication");
			break;
		case CX_DONE:
			break;
		}
	}
	if (rc != RMS_EAGAIN)
		rms__ssh_connect_free(c);
	return rc;
}
