# machine-os: Debian's /etc/profile gives non-root login shells /usr/local/bin:/usr/bin:/bin
# only; add the sbin directories, as sshd's SetEnv does for SSH commands (10-machine-os.conf).
for machine_os_dir in /usr/local/sbin /usr/sbin /sbin; do
	case ":$PATH:" in
	*":$machine_os_dir:"*) ;;
	*) PATH=$PATH:$machine_os_dir ;;
	esac
done
unset machine_os_dir
export PATH
