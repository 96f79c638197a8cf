#!/bin/sh
# A private OpenSSH sshd on loopback for the demo, with PowerShell as its
# `powershell` subsystem (PowerShell remoting over SSH).
#
# Usage: scripts/demo-sshd.sh DIR PWSH
#   DIR   an empty directory the caller made (mktemp -d) and removes
#   PWSH  the pwsh to run as the subsystem
# Writes into DIR: host_ed25519 (the host key), id_ed25519 (the user's key,
# no passphrase), authorized_keys, known_hosts ("[127.0.0.1]:PORT ssh-ed25519
# ..."), sshd_config, sshd.log and sshd.pid; starts /usr/sbin/sshd -D in the
# background as the current user, waits until its port accepts connections
# and prints the port. The caller stops it: kill "$(cat DIR/sshd.pid)".
# sshd must run as root to log a user in (the demo runs as root).
set -eu
dir=${1:?usage: demo-sshd.sh DIR PWSH}
pwsh=${2:?usage: demo-sshd.sh DIR PWSH}
sshd=/usr/sbin/sshd
user=$(id -un)

[ -x "$sshd" ] || { echo "demo-sshd: $sshd is missing (openssh-server)" >&2; exit 1; }
# sshd's privilege separation directory; a container may not have it.
[ -d /run/sshd ] || mkdir -p /run/sshd

ssh-keygen -q -t ed25519 -N '' -C remsess-demo-host -f "$dir/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C remsess-demo-user -f "$dir/id_ed25519"
cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
chmod 600 "$dir/authorized_keys"

free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

accepts() {
	/usr/bin/python3 -c 'import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()
except OSError:
    sys.exit(1)' "$1"
}

# A port picked this way can be taken by someone else before sshd binds it:
# then try another.
attempt=0
while :; do
	attempt=$((attempt + 1))
	port=$(free_port)
	printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" \
		>"$dir/known_hosts"
	cat >"$dir/sshd_config" <<EOF
ListenAddress 127.0.0.1:$port
HostKey $dir/host_ed25519
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
AllowUsers $user
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
X11Forwarding no
AllowTcpForwarding no
Subsystem powershell $pwsh -sshs -NoLogo -NoProfile
EOF
	rm -f "$dir/sshd.pid"
	"$sshd" -D -e -f "$dir/sshd_config" </dev/null >"$dir/sshd.log" 2>&1 &
	pid=$!
	i=0
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null || :
			break
		fi
		if accepts "$port" && [ -s "$dir/sshd.pid" ]; then
			echo "$port"
			exit 0
		fi
		i=$((i + 1))
		if [ $i -ge 100 ]; then
			kill "$pid" 2>/dev/null || :
			break
		fi
		sleep 0.1
	done
	if [ $attempt -ge 3 ] || ! grep -q 'Bind to port' "$dir/sshd.log"; then
		echo "demo-sshd: sshd did not start; its log:" >&2
		cat "$dir/sshd.log" >&2
		exit 1
	fi
done
