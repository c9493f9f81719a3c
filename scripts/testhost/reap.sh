#!/bin/bash
# reap.sh: remove what crashed test processes left behind (the shell twin of testhost.Reap).
#
# A host of the kit is named dmt-<owner pid, base 36>-<n>; its state lives in
# $TESTHOST_RUNDIR/<name>/state.json (owner_pid, owner_start = /proc/PID/stat field 22, pid).
# Hosts whose owner is gone are torn down: processes killed, mounts under the host dir
# unmounted, iptables rules commented with the name, the veth and the netns deleted, the dir
# removed. Hosts of live owners are never touched. With --all, live owners' hosts go too.
set -uo pipefail
rundir=${TESTHOST_RUNDIR:-/run/docker-machine-testhost}
all=0
[ "${1:-}" = --all ] && all=1

json() { sed -n "s/.*\"$2\": *\"\{0,1\}\([^\",]*\)\"\{0,1\}.*/\1/p" "$1" | head -n1; }
starttime() { [ -r "/proc/$1/stat" ] && sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20; }
owner_alive() { # pid start
	[ -n "$1" ] && [ "$1" != 0 ] && [ -d "/proc/$1" ] || return 1
	[ -z "${2:-}" ] || [ "$2" = 0 ] || [ "$(starttime "$1")" = "$2" ]
}
pid_from_name() { # dmt-<b36>-<n> -> decimal pid
	local b36=${1#dmt-}
	b36=${b36%%-*}
	echo $((36#$b36)) 2>/dev/null
}
netns_pids() { # processes in /run/netns/NAME
	local ino
	ino=$(stat -L -c %i "/run/netns/$1" 2>/dev/null) || return 0
	for p in /proc/[0-9]*; do
		[ "$(stat -L -c %i "$p/ns/net" 2>/dev/null)" = "$ino" ] && echo "${p#/proc/}"
	done
}
delete_rules() { # comment
	local t
	for t in filter nat; do
		iptables -w -t "$t" -S 2>/dev/null | grep -- "--comment $1 " | sed 's/^-A/-D/' |
			while read -r rule; do eval "iptables -w -t $t $rule"; done
	done
}
teardown() { # name dir
	local name=$1 dir=$2 pid
	for pid in $(json "$dir/state.json" pid 2>/dev/null) $(cat "$dir/qemu.pid" 2>/dev/null); do
		[ -n "$pid" ] && [ "$pid" != 0 ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name" &&
			kill -KILL "$pid" 2>/dev/null
	done
	pids=$(netns_pids "$name")
	[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
	sleep 0.2
	findmnt -rn -o TARGET | grep -E "^$dir(/|$)" | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
	rmdir "/run/systemd/nspawn/propagate/$name" 2>/dev/null
	delete_rules "$name"
	ip link del "$name" 2>/dev/null
	[ -e "/run/netns/$name" ] && ip netns del "$name"
	rm -rf --one-file-system "$dir"
	echo "reaped $name"
}

mkdir -p "$rundir"
exec 9>"$rundir/.lock"
flock 9
declare -A known
for dir in "$rundir"/dmt-*; do
	[ -d "$dir" ] || continue
	name=${dir##*/}
	known[$name]=1
	opid=$(json "$dir/state.json" owner_pid 2>/dev/null)
	[ -n "$opid" ] || opid=$(pid_from_name "$name")
	if [ $all = 0 ] && owner_alive "$opid" "$(json "$dir/state.json" owner_start 2>/dev/null)"; then
		continue
	fi
	teardown "$name" "$dir"
done
orphan() {
	[[ $1 == dmt-* ]] && [ -z "${known[$1]:-}" ] || return 1
	[ $all = 1 ] && return 0
	! owner_alive "$(pid_from_name "$1")"
}
for ns in $(ls /run/netns 2>/dev/null); do
	if orphan "$ns"; then
		pids=$(netns_pids "$ns")
		[ -n "$pids" ] && kill -KILL $pids
		ip netns del "$ns" && echo "reaped netns $ns"
	fi
done
for l in $(ls /sys/class/net); do
	orphan "$l" && ip link del "$l" && echo "reaped veth $l"
done
for c in $( { iptables -w -S; iptables -w -t nat -S; } 2>/dev/null | grep -o -- '--comment dmt-[0-9a-z-]*' | cut -d' ' -f2 | sort -u); do
	orphan "$c" && delete_rules "$c" && echo "reaped iptables rules $c"
done
# ip netns add bind-mounts /run/netns onto itself; undo it when no namespace is left.
if [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ] && findmnt -rn /run/netns >/dev/null; then
	umount /run/netns
fi
exit 0
