#!/usr/bin/env bash
# Writes a minimal Janus configuration into $1: the VideoRoom plugin and the
# plain HTTP transport on $2 (default 127.0.1.1:8088), nothing else loaded.
# Used by bench/run.sh; kept separate so it can be read and tried on its own.
set -euo pipefail
dir=$1
ip=${2:-127.0.1.1}
port=${3:-8088}
libdir=$(dirname "$(ls -d /usr/lib/*/janus/plugins | head -1)")
mkdir -p "$dir"

# Every shipped .so except the ones we keep, as Janus's comma-separated disable lists.
disable() { # folder keep
  local out=() f
  for f in "$libdir/$1"/*.so; do
    [ -e "$f" ] || continue
    f=$(basename "$f")
    [ "$f" = "$2" ] || out+=("$f")
  done
  local IFS=,; echo "${out[*]}"
}

cat > "$dir/janus.jcfg" <<CFG
general: {
	configs_folder = "$dir"
	plugins_folder = "$libdir/plugins"
	transports_folder = "$libdir/transports"
	events_folder = "$libdir/events"
	loggers_folder = "$libdir/loggers"
	interface = "$ip"
	debug_level = 3
	log_to_stdout = true
	session_timeout = 120
}
certificates: {
}
media: {
	ipv6 = false
	rtp_port_range = "20000-40000"
}
nat: {
	nice_debug = false
	ice_enforce_list = "$ip"
	ignore_mdns = true
}
plugins: {
	disable = "$(disable plugins libjanus_videoroom.so)"
}
transports: {
	disable = "$(disable transports libjanus_http.so)"
}
loggers: {
	disable = "$(disable loggers none)"
}
events: {
	broadcast = false
	disable = "$(disable events none)"
}
CFG

cat > "$dir/janus.transport.http.jcfg" <<CFG
general: {
	json = "compact"
	base_path = "/janus"
	http = true
	port = $port
	ip = "$ip"
	https = false
}
admin: {
	admin_base_path = "/admin"
	admin_http = false
	admin_https = false
}
cors: {
}
CFG

cat > "$dir/janus.plugin.videoroom.jcfg" <<CFG
general: {
	string_ids = false
}
room-1234: {
	description = "conclave bench"
	publishers = 4
	bitrate = 2000000
	fir_freq = 0
	audiocodec = "opus"
	videocodec = "vp8"
	record = false
}
CFG
