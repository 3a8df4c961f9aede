#!/bin/sh
# Installs, upgrades, rolls back and removes the fieldmesh agent on Debian/Raspberry Pi OS
# (systemd) and OpenWrt (procd). POSIX sh: runs under dash and busybox ash.
set -eu

usage() {
	cat <<'EOF'
Usage: install.sh [OPTIONS] ARTIFACT     install or upgrade fieldmesh from ARTIFACT
       install.sh [OPTIONS] --rollback    go back to the previous release
       install.sh [OPTIONS] --uninstall [--purge]

ARTIFACT is fieldmesh-<version>-linux-<arch> (one executable) or
fieldmesh-<version>-linux-armv7.tar.gz (a folder with bin/fieldmesh).

Options:
  --root DIR      install into the system image at DIR (default /). Nothing is started, users
                  are added by editing DIR/etc/passwd, group, shadow.
  --config FILE   configuration to install as /etc/fieldmesh/config.yaml when there is none
                  yet (an existing one is never replaced); default: embedded broker on loopback
  --version V     the artifact's version, when it cannot run here and its name does not say
  --init KIND     systemd, procd or none (default: procd if /etc/openwrt_release exists,
                  else systemd)
  --force         reinstall a version that is installed from a different artifact
  --purge         with --uninstall: also delete config, data (node key!) and the user
  -h, --help      this help

Layout: /opt/fieldmesh/releases/<version>/bin/fieldmesh, /opt/fieldmesh/current and
/opt/fieldmesh/previous (symlinks; two releases are kept), /usr/local/bin/fieldmesh,
/etc/fieldmesh/config.yaml (root:fieldmesh 0640), data and node key in /var/lib/fieldmesh
(fieldmesh, 0750); on OpenWrt /etc/fieldmesh/data, since its /var is lost at reboot.
Without useradd (OpenWrt, --root) the user is added to etc/passwd, group, shadow directly,
with the first id from 200 on that is free as both uid and gid.
EOF
}

say() { printf 'fieldmesh install: %s\n' "$*"; }
die() {
	printf 'fieldmesh install: error: %s\n' "$1" >&2
	[ $# -lt 2 ] || printf '  what to do: %s\n' "$2" >&2
	exit 1
}

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT= CONFIG= VERSION= INIT= ACTION=install ARTIFACT= FORCE=0 PURGE=0
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--root) [ $# -ge 2 ] || die "--root needs a directory" "see install.sh --help"; ROOT=${2%/}; shift ;;
	--config) [ $# -ge 2 ] || die "--config needs a file" "see install.sh --help"; CONFIG=$2; shift ;;
	--version) [ $# -ge 2 ] || die "--version needs a value" "see install.sh --help"; VERSION=$2; shift ;;
	--init) [ $# -ge 2 ] || die "--init needs systemd, procd or none"; INIT=$2; shift ;;
	--rollback) ACTION=rollback ;;
	--uninstall) ACTION=uninstall ;;
	--purge) PURGE=1 ;;
	--force) FORCE=1 ;;
	-*) die "unknown option $1" "run install.sh --help" ;;
	*) [ -z "$ARTIFACT" ] || die "more than one artifact ($ARTIFACT, $1)" "give one file"; ARTIFACT=$1 ;;
	esac
	shift
done

if [ -z "$INIT" ]; then
	INIT=systemd
	[ ! -f "$ROOT/etc/openwrt_release" ] || INIT=procd
fi
case $INIT in systemd | procd | none) ;; *) die "--init $INIT: expected systemd, procd or none" ;; esac
OPT=$ROOT/opt/fieldmesh
ETC=$ROOT/etc/fieldmesh
# OpenWrt's /var is RAM (a link to /tmp): the node key would not survive a reboot there.
DATA_PATH=/var/lib/fieldmesh
[ "$INIT" != procd ] || DATA_PATH=/etc/fieldmesh/data
DATA=$ROOT$DATA_PATH
LINK=$ROOT/usr/local/bin/fieldmesh
LIVE=1
[ -z "$ROOT" ] || LIVE=0
[ -z "$ROOT" ] || [ -d "$ROOT" ] || die "--root $ROOT: no such directory" "create it or give the mounted image"
[ "$(id -u)" = 0 ] || die "must run as root (it creates a user and writes /opt, /etc, /var/lib)" "run: sudo sh $0 ..."

# --- small helpers ------------------------------------------------------------------------

checksum() {
	if command -v sha256sum >/dev/null 2>&1; then sha256sum <"$1" | cut -d' ' -f1; else cksum <"$1" | tr ' ' -; fi
}

# Replaces a symlink in one rename, so a power cut leaves either the old or the new link.
# (busybox mv has no -T: there ln -sfn, which unlinks and relinks.)
set_link() { # target link
	ln -s "$1" "$2.new.$$" || die "cannot create the symlink $2" "check that ${2%/*} is writable"
	mv -T "$2.new.$$" "$2" 2>/dev/null || { rm -f "$2.new.$$" && ln -sfn "$1" "$2"; } ||
		die "cannot point $2 at $1" "check that ${2%/*} is writable"
}

# Writes src to dst (mode, owner) only when the content differs, so reruns touch nothing;
# PUT=1 when it wrote. (Callers test PUT, not a status: set -e is off in tested functions.)
put_file() { # src dst mode owner
	PUT=0
	if [ -f "$2" ] && cmp -s "$1" "$2"; then return 0; fi
	{ cp "$1" "$2.new.$$" && chmod "$3" "$2.new.$$" && chown "$4" "$2.new.$$" && mv -f "$2.new.$$" "$2"; } ||
		die "cannot write $2" "check that ${2%/*} is writable and the disk is not full"
	PUT=1
}

release_of() { # link -> version it points at, or nothing
	[ -L "$1" ] || return 0
	basename "$(readlink "$1")"
}

# --- version ------------------------------------------------------------------------------

is_tarball() { case $1 in *.tar.gz | *.tgz) return 0 ;; *) return 1 ;; esac; }

detect_version() { # artifact runnable-copy
	[ -z "$VERSION" ] || { printf '%s\n' "$VERSION"; return; }
	v=
	if is_tarball "$1"; then
		top=$(tar -tzf "$1" | sed 's|^\./||' | head -n 1 | cut -d/ -f1)
		v=$(printf '%s\n' "$top" | sed -n 's/^fieldmesh-\([0-9][0-9A-Za-z.+~-]*\)-linux-[a-z0-9_]*$/\1/p')
	else
		# Runs the artifact when this machine can; under --root it may be another architecture.
		v=$(FIELDMESH_RUNTIME_DIR=$WORK/runtime "$2" --version 2>/dev/null | tail -n 1 | sed 's/^fieldmesh //') || v=
		[ -n "$v" ] || v=$(basename "$1" | sed -n 's/^fieldmesh-\([0-9][0-9A-Za-z.+~-]*\)-linux-[a-z0-9_]*$/\1/p')
	fi
	case $v in
	'' | */* | .* | *' '*) die "cannot tell the version of $1 (it does not run here and its name is not fieldmesh-<version>-linux-<arch>)" \
		"give it: install.sh --version 1.2.3 $1" ;;
	esac
	printf '%s\n' "$v"
}

# --- user and directories -----------------------------------------------------------------

# Appends a line to an account file atomically, keeping its mode and owner.
append_line() { # file line
	{ cp -p "$1" "$1.new.$$" && printf '%s\n' "$2" >>"$1.new.$$" && mv -f "$1.new.$$" "$1"; } ||
		die "cannot add fieldmesh to $1" "check that ${1%/*} is writable"
}

# The first id from 200 on that is neither a uid nor a gid, for useradd-less systems.
free_id() {
	awk -F: 'FNR==NR { used[$3]=1; next } { used[$3]=1 } END { for (i = 200; i < 1000; i++) if (!(i in used)) { print i; exit } }' \
		"$ROOT/etc/passwd" "$ROOT/etc/group"
}

ensure_user() {
	if [ "$LIVE" = 1 ] && command -v useradd >/dev/null 2>&1; then
		id fieldmesh >/dev/null 2>&1 && return 0
		groupadd --system fieldmesh 2>/dev/null || true
		useradd --system --gid fieldmesh --home-dir /var/lib/fieldmesh --no-create-home \
			--shell /usr/sbin/nologin --comment "fieldmesh agent" fieldmesh ||
			die "useradd could not create the user fieldmesh" "create it by hand (system user, group fieldmesh), then rerun"
		say "created the system user fieldmesh"
		return 0
	fi
	for f in passwd group; do
		[ -f "$ROOT/etc/$f" ] || die "$ROOT/etc/$f is missing" "--root must be a system image with /etc/passwd and /etc/group"
	done
	grep -q '^fieldmesh:' "$ROOT/etc/passwd" && return 0
	gid=$(awk -F: '$1=="fieldmesh" { print $3 }' "$ROOT/etc/group")
	uid=$(free_id)
	[ -n "$uid" ] || die "no free system id between 200 and 999 in $ROOT/etc/passwd" "add the user fieldmesh by hand"
	if [ -z "$gid" ]; then gid=$uid; append_line "$ROOT/etc/group" "fieldmesh:x:$gid:"; fi
	[ ! -f "$ROOT/etc/gshadow" ] || grep -q '^fieldmesh:' "$ROOT/etc/gshadow" || append_line "$ROOT/etc/gshadow" "fieldmesh:!::"
	shell=/usr/sbin/nologin
	[ -e "$ROOT$shell" ] || shell=/bin/false
	append_line "$ROOT/etc/passwd" "fieldmesh:x:$uid:$gid:fieldmesh agent:/var/lib/fieldmesh:$shell"
	[ ! -f "$ROOT/etc/shadow" ] || grep -q '^fieldmesh:' "$ROOT/etc/shadow" || append_line "$ROOT/etc/shadow" "fieldmesh:!:::::::"
	say "added the system user fieldmesh ($uid:$gid) to $ROOT/etc/passwd"
}

# uid:gid from the image's account files, so chown works under --root too.
owner_ids() { awk -F: '$1=="fieldmesh" { print $3 ":" $4 }' "$ROOT/etc/passwd"; }

ensure_dirs() {
	ids=$(owner_ids)
	[ -n "$ids" ] || die "the user fieldmesh has no entry in $ROOT/etc/passwd" "check the accounts (getent passwd fieldmesh)"
	gid=${ids#*:}
	{ mkdir -p "$OPT/releases" "$ROOT/usr/local/bin" "$ETC" "$DATA" &&
		chown "0:$gid" "$ETC" && chmod 0750 "$ETC" && chown "$ids" "$DATA" && chmod 0750 "$DATA"; } ||
		die "cannot create $OPT, $ETC or $DATA" "check that the file system is writable and not full"
}

default_config() {
	cat <<EOF
# fieldmesh agent configuration, written by install.sh (it never replaces this file).
# Reference: README.md "Configuration"; examples: deploy/examples/ in the source tree.
node:
  dataDir: $DATA_PATH
log:
  level: info
broker:
  # An embedded MQTT broker on loopback; sensors elsewhere need host 0.0.0.0 and passwords
  # (fieldmesh broker passwd).
  enabled: true
  host: 127.0.0.1
  port: 1883
  storage: disk
models: []
pipelines: []
EOF
}

ensure_config() {
	if [ -e "$ETC/config.yaml" ]; then return 0; fi
	if [ -n "$CONFIG" ]; then
		[ -r "$CONFIG" ] || die "--config $CONFIG: cannot read it" "check the path"
		cp "$CONFIG" "$WORK/config.yaml"
	else
		default_config >"$WORK/config.yaml"
	fi
	put_file "$WORK/config.yaml" "$ETC/config.yaml" 0640 "0:${ids#*:}"
	say "wrote $ETC/config.yaml"
}

# --- node key -----------------------------------------------------------------------------

ensure_key() {
	[ ! -f "$DATA/node-key.json" ] || return 0
	bin=$OPT/current/bin/fieldmesh
	if [ "$LIVE" = 1 ] && command -v setpriv >/dev/null 2>&1; then
		as_user="setpriv --reuid=${ids%:*} --regid=${ids#*:} --init-groups --"
	elif [ "$LIVE" = 1 ] && command -v runuser >/dev/null 2>&1; then
		as_user="runuser -u fieldmesh --"
	else
		as_user= # as root, then handed to the user below
	fi
	# shellcheck disable=SC2086 # as_user is a command prefix
	# The runtime dir the service uses: a single-file executable may unpack its libraries there.
	if FIELDMESH_RUNTIME_DIR=$DATA/runtime $as_user "$bin" keys create --data-dir "$DATA" >"$WORK/keys.out" 2>&1; then
		chown "$ids" "$DATA/node-key.json" && chmod 0600 "$DATA/node-key.json"
		[ ! -d "$DATA/runtime" ] || chown -R "$ids" "$DATA/runtime"
		say "created the node key: $(sed -n 's/^node id *//p' "$WORK/keys.out")"
	else
		say "could not run $bin here ($(tail -n 1 "$WORK/keys.out")); the agent creates its node key in $DATA_PATH on its first start"
	fi
}

# --- releases -----------------------------------------------------------------------------

# Unpacks or copies the artifact into releases/.staging, ready to be renamed into place.
stage_release() { # -> $OPT/releases/.staging
	st=$OPT/releases/.staging
	rm -rf "$st" && mkdir -p "$st"
	if is_tarball "$ARTIFACT"; then
		tar -xzf "$ARTIFACT" -C "$st" || die "cannot unpack $ARTIFACT" "download it again (the file may be truncated)"
		top=$(ls "$st")
		[ "$(printf '%s\n' "$top" | wc -l)" -eq 1 ] && [ -d "$st/$top" ] ||
			die "$ARTIFACT does not hold one top folder" "use the fieldmesh-<version>-linux-armv7.tar.gz of a release"
		mv "$st/$top" "$st.d" && rmdir "$st" && mv "$st.d" "$st"
	else
		mkdir -p "$st/bin" && cp "$ARTIFACT" "$st/bin/fieldmesh"
	fi
	[ -f "$st/bin/fieldmesh" ] || die "$ARTIFACT has no bin/fieldmesh" "use a fieldmesh release artifact"
	chmod 0755 "$st/bin/fieldmesh"
	printf '%s\n' "$SUM" >"$st/.artifact-checksum"
}

# Keeps exactly current and previous; older releases go.
prune_releases() {
	keep1=$(release_of "$OPT/current") keep2=$(release_of "$OPT/previous")
	for d in "$OPT"/releases/*; do
		[ -e "$d" ] || continue
		n=$(basename "$d")
		[ "$n" = "$keep1" ] || [ "$n" = "$keep2" ] || { rm -rf "$d"; say "removed the old release $n"; }
	done
}

install_release() { # sets CHANGED=1 when current moved or the release was replaced
	CHANGED=0
	rel=$OPT/releases/$VERSION
	if [ -d "$rel" ]; then
		have=$(cat "$rel/.artifact-checksum" 2>/dev/null || echo none)
		if [ "$have" != "$SUM" ]; then
			[ "$FORCE" = 1 ] || die "$VERSION is installed from a different artifact ($rel)" \
				"rerun with --force to replace it, or check that you copied the right file"
			stage_release && rm -rf "$rel" && mv "$OPT/releases/.staging" "$rel"
			say "reinstalled $VERSION"
			CHANGED=1
			return 0
		fi
		[ "$(release_of "$OPT/current")" != "$VERSION" ] || return 0
	else
		stage_release && mv "$OPT/releases/.staging" "$rel"
	fi
	old=$(release_of "$OPT/current")
	[ -z "$old" ] || [ "$old" = "$VERSION" ] || set_link "releases/$old" "$OPT/previous"
	set_link "releases/$VERSION" "$OPT/current"
	say "installed $VERSION${old:+ (previous: $old)}"
	prune_releases
	CHANGED=1
}

ensure_command_link() {
	[ "$(readlink "$LINK" 2>/dev/null || true)" = /opt/fieldmesh/current/bin/fieldmesh ] ||
		set_link /opt/fieldmesh/current/bin/fieldmesh "$LINK"
}

# --- service ------------------------------------------------------------------------------

service_file() { # name -> path next to this script
	for f in "$HERE/$1" "$OPT/current/share/fieldmesh/$1"; do [ ! -f "$f" ] || { echo "$f"; return; }; done
	die "$1 is missing next to install.sh ($HERE)" "keep install.sh with its systemd/ and openwrt/ folders"
}

systemd_live() { [ "$LIVE" = 1 ] && [ -d /run/systemd/system ]; }

install_service() { # $1 = 1 to restart a running service
	case $INIT in
	systemd)
		unit=$ROOT/etc/systemd/system/fieldmesh.service
		mkdir -p "${unit%/*}"
		put_file "$(service_file systemd/fieldmesh.service)" "$unit" 0644 0:0
		if [ "$PUT" = 1 ]; then
			say "installed $unit"
			! systemd_live || systemctl daemon-reload
		fi
		if systemd_live; then
			systemctl enable --quiet fieldmesh.service
			if [ "$1" = 1 ]; then systemctl restart fieldmesh.service; else systemctl start fieldmesh.service; fi ||
				die "fieldmesh.service did not start" "see: journalctl -u fieldmesh -n 50"
		elif [ "$LIVE" = 1 ]; then
			say "systemd is not running: start it later with systemctl enable --now fieldmesh"
		fi
		;;
	procd)
		script=$ROOT/etc/init.d/fieldmesh
		mkdir -p "${script%/*}"
		put_file "$(service_file openwrt/fieldmesh.init)" "$script" 0755 0:0
		[ "$PUT" = 0 ] || say "installed $script"
		# sysupgrade (a firmware upgrade) keeps only listed files: keep the agent and its key.
		mkdir -p "$ROOT/lib/upgrade/keep.d"
		printf '%s\n' /etc/fieldmesh/ /opt/fieldmesh/ /usr/local/bin/fieldmesh /etc/init.d/fieldmesh >"$WORK/keep"
		put_file "$WORK/keep" "$ROOT/lib/upgrade/keep.d/fieldmesh" 0644 0:0
		if [ "$LIVE" = 1 ]; then
			"$script" enabled || "$script" enable
			if [ "$1" = 1 ]; then "$script" restart; else "$script" start; fi ||
				die "the fieldmesh service did not start" "see: logread -e fieldmesh"
		fi
		;;
	esac
}

remove_service() {
	if [ "$INIT" = systemd ]; then
		! systemd_live || systemctl disable --now --quiet fieldmesh.service 2>/dev/null || true
		rm -f "$ROOT/etc/systemd/system/fieldmesh.service"
		! systemd_live || systemctl daemon-reload
	elif [ "$INIT" = procd ]; then
		[ "$LIVE" = 0 ] || [ ! -x /etc/init.d/fieldmesh ] || { /etc/init.d/fieldmesh stop; /etc/init.d/fieldmesh disable; } || true
		rm -f "$ROOT/etc/init.d/fieldmesh" "$ROOT/lib/upgrade/keep.d/fieldmesh"
	fi
}

# --- actions ------------------------------------------------------------------------------

do_install() {
	[ -n "$ARTIFACT" ] || die "no artifact given" "run install.sh --help"
	[ -f "$ARTIFACT" ] || die "$ARTIFACT: no such file" "copy the release file onto this machine first"
	# A copy with the x bit, to ask it for its version without touching the operator's file.
	cp "$ARTIFACT" "$WORK/artifact" && chmod 0755 "$WORK/artifact"
	VERSION=$(detect_version "$ARTIFACT" "$WORK/artifact") || exit 1
	SUM=$(checksum "$ARTIFACT")
	ensure_user
	ensure_dirs
	install_release
	ensure_command_link
	ensure_config
	ensure_key
	install_service "$CHANGED"
	sync
	[ "$CHANGED" = 1 ] || say "fieldmesh $VERSION is already installed; nothing to do"
}

do_rollback() {
	prev=$(release_of "$OPT/previous") cur=$(release_of "$OPT/current")
	[ -n "$prev" ] && [ -d "$OPT/releases/$prev" ] ||
		die "there is no previous release in $OPT to roll back to" "install the version you want instead"
	set_link "releases/$prev" "$OPT/current"
	set_link "releases/$cur" "$OPT/previous"
	install_service 1
	sync
	say "rolled back from $cur to $prev (install.sh --rollback again returns to $cur)"
}

do_uninstall() {
	remove_service
	rm -f "$LINK"
	rm -rf "$OPT"
	if [ "$PURGE" = 1 ]; then
		rm -rf "$ETC" "$DATA"
		remove_user
		say "removed fieldmesh, its configuration, data and user"
	else
		say "removed fieldmesh; kept $ETC and $DATA (install.sh --uninstall --purge deletes them)"
	fi
}

remove_user() {
	if [ "$LIVE" = 1 ] && command -v userdel >/dev/null 2>&1; then
		! id fieldmesh >/dev/null 2>&1 || userdel fieldmesh
		! grep -q '^fieldmesh:' /etc/group || groupdel fieldmesh 2>/dev/null || true
		return 0
	fi
	for f in passwd shadow group gshadow; do
		[ -f "$ROOT/etc/$f" ] && grep -q '^fieldmesh:' "$ROOT/etc/$f" || continue
		cp -p "$ROOT/etc/$f" "$ROOT/etc/$f.new.$$"
		grep -v '^fieldmesh:' "$ROOT/etc/$f" >"$ROOT/etc/$f.new.$$" || true
		mv -f "$ROOT/etc/$f.new.$$" "$ROOT/etc/$f"
	done
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldmesh-install.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
case $ACTION in
install) do_install ;;
rollback) do_rollback ;;
uninstall) do_uninstall ;;
esac
