package virtualbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/log"
)

// VBoxManage's own failure texts the driver reacts to.
const (
	// objectNotReady is transient: VirtualBox's service is still busy
	// with the previous command; the original retried it.
	objectNotReady = "error: The object is not ready"
	// vbmAttempts and vbmRetryDelay bound those retries (the original's
	// five tries, 100 ms apart).
	vbmAttempts   = 5
	vbmRetryDelay = 100 * time.Millisecond
	// maxTraced bounds each output in the debug trace.
	maxTraced = 2000
)

var (
	// ErrMachineNotExist is the state of a VM VirtualBox does not know.
	ErrMachineNotExist = errors.New("machine does not exist")
	// ErrVBMNotFound: no VBoxManage on this host (the original's text).
	ErrVBMNotFound = errors.New("VBoxManage not found. Make sure VirtualBox is installed and VBoxManage is in the path")

	reMachineNotFound = regexp.MustCompile(`Could not find a registered machine named '(.+)'`)
)

// vbmName is the tool's file name.
func vbmName() string {
	if runtime.GOOS == "windows" {
		return "VBoxManage.exe"
	}
	return "VBoxManage"
}

// findVBoxManage locates VBoxManage: PATH first; on Windows then the
// directories of VBOX_INSTALL_PATH, VBOX_MSI_INSTALL_PATH (set by the
// VirtualBox installers) and the default installation directory.
func findVBoxManage() (string, error) {
	if p, err := exec.LookPath(vbmName()); err == nil {
		return p, nil
	}
	if runtime.GOOS == "windows" {
		dirs := []string{os.Getenv("VBOX_INSTALL_PATH"), os.Getenv("VBOX_MSI_INSTALL_PATH"), `C:\Program Files\Oracle\VirtualBox`}
		for _, d := range dirs {
			// The variables may hold a list of directories.
			for _, dir := range filepath.SplitList(d) {
				if dir == "" {
					continue
				}
				p := filepath.Join(dir, vbmName())
				if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
					return p, nil
				}
			}
		}
	}
	return "", ErrVBMNotFound
}

// vbm runs VBoxManage. One per driver; safe for concurrent use.
type vbm struct {
	once sync.Once
	path string
	err  error
}

func (v *vbm) binary() (string, error) {
	v.once.Do(func() { v.path, v.err = findVBoxManage() })
	return v.path, v.err
}

// VBoxManageError is a failed VBoxManage command: its exit status was
// not zero, or it wrote an "error:" line (VBoxManage sometimes exits 0
// after a fatal error, such as a missing VT-x).
type VBoxManageError struct {
	Args   []string
	Stderr string
	Err    error
}

func (e *VBoxManageError) Error() string {
	msg := strings.TrimRight(e.Stderr, "\n")
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("VBoxManage %s failed:\n%s", strings.Join(e.Args, " "), msg)
}

func (e *VBoxManageError) Unwrap() error { return e.Err }

// run runs VBoxManage with args and returns its standard output and
// error. stdin, when not nil, is copied to the command's input (disk
// images). The command ends with ctx.
func (v *vbm) run(ctx context.Context, stdin io.Reader, args ...string) (string, string, error) {
	bin, err := v.binary()
	if err != nil {
		return "", "", err
	}
	for attempt := 1; ; attempt++ {
		stdout, stderr, err := v.once1(ctx, bin, stdin, args)
		if err == nil {
			return stdout, stderr, nil
		}
		// A transient refusal of VirtualBox's service; a command that
		// read stdin cannot be repeated.
		if stdin == nil && attempt < vbmAttempts && strings.Contains(stderr, objectNotReady) && ctx.Err() == nil {
			log.Debugf("VBoxManage %s: %s; retrying", args[0], objectNotReady)
			t := time.NewTimer(vbmRetryDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return stdout, stderr, fmt.Errorf("VBoxManage %s: %w", strings.Join(args, " "), context.Cause(ctx))
			case <-t.C:
			}
			continue
		}
		return stdout, stderr, err
	}
}

func (v *vbm) once1(ctx context.Context, bin string, stdin io.Reader, args []string) (string, string, error) {
	log.Debugf("COMMAND: %s %s", bin, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = stdin
	// VBoxManage prints localized messages; the driver parses English.
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	err := cmd.Run()
	out, errOut := stdout.String(), stderr.String()
	// The trace keeps the start of long outputs (showvminfo is about
	// 200 lines, read by every state query).
	log.Debugf("STDOUT: %s", log.Shorten(out, maxTraced))
	log.Debugf("STDERR: %s", log.Shorten(errOut, maxTraced))
	if ctx.Err() != nil {
		return out, errOut, fmt.Errorf("VBoxManage %s: %w", strings.Join(args, " "), context.Cause(ctx))
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return out, errOut, ErrVBMNotFound
		}
		return out, errOut, fmt.Errorf("running VBoxManage: %w", err)
	}
	if err != nil || strings.Contains(errOut, "error:") {
		return out, errOut, &VBoxManageError{Args: args, Stderr: errOut, Err: err}
	}
	return out, errOut, nil
}

// out runs VBoxManage and returns its standard output.
func (v *vbm) out(ctx context.Context, args ...string) (string, error) {
	stdout, _, err := v.run(ctx, nil, args...)
	return stdout, err
}

// do runs VBoxManage for its effect.
func (v *vbm) do(ctx context.Context, args ...string) error {
	_, _, err := v.run(ctx, nil, args...)
	return err
}

// checkVersion accepts VirtualBox 4.3 and later, warning below 5 (the
// original's rule and texts). version is `VBoxManage --version`, e.g.
// "7.0.20r163906".
func checkVersion(version string) error {
	major, minor, err := parseVersion(version)
	if err != nil || major < 4 || (major == 4 && minor <= 2) {
		return fmt.Errorf("We support Virtualbox starting with version 5. Your VirtualBox install is %q. Please upgrade at https://www.virtualbox.org", version)
	}
	if major < 5 {
		log.Warnf("You are using version %s of VirtualBox. If you encounter issues, you might want to upgrade to version 5 at https://www.virtualbox.org", version)
	}
	return nil
}

// parseVersion reads major and minor of a VBoxManage version.
func parseVersion(version string) (int, int, error) {
	parts := strings.Split(version, ".")
	if len(parts) < 2 {
		return 0, 0, fmt.Errorf("Invalid version: %q", version)
	}
	major, err := strconv.Atoi(parts[0])
	if err != nil {
		return 0, 0, fmt.Errorf("Invalid version: %q", version)
	}
	minor, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0, 0, fmt.Errorf("Invalid version: %q", version)
	}
	return major, minor, nil
}

// reColonLine splits the "Key:   value" lines of VBoxManage's lists.
var reColonLine = regexp.MustCompile(`^([^:]+):\s+(.*)$`)

// parseColonRecords splits a `VBoxManage list` output into records
// (separated by blank lines) of "Key: value" lines. Indented lines
// (nested sections of newer versions) are left out.
func parseColonRecords(out string) []map[string]string {
	var recs []map[string]string
	cur := map[string]string{}
	s := bufio.NewScanner(strings.NewReader(out))
	for s.Scan() {
		line := strings.TrimRight(s.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			if len(cur) > 0 {
				recs = append(recs, cur)
				cur = map[string]string{}
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		m := reColonLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		cur[strings.TrimSpace(m[1])] = strings.TrimSpace(m[2])
	}
	if len(cur) > 0 {
		recs = append(recs, cur)
	}
	return recs
}

// vmInfo is `showvminfo --machinereadable`: key=value lines, the value
// quoted unless it is a number, the key quoted when it has dashes
// ("SATA-1-0"="...").
type vmInfo map[string]string

func parseVMInfo(out string) vmInfo {
	info := vmInfo{}
	s := bufio.NewScanner(strings.NewReader(out))
	for s.Scan() {
		line := strings.TrimRight(s.Text(), "\r")
		k, v, ok := splitInfoLine(line)
		if ok {
			info[k] = v
		}
	}
	return info
}

func splitInfoLine(line string) (string, string, bool) {
	var key string
	if strings.HasPrefix(line, `"`) {
		end := strings.Index(line[1:], `"=`)
		if end < 0 {
			return "", "", false
		}
		key, line = line[1:end+1], line[end+3:]
	} else {
		i := strings.IndexByte(line, '=')
		if i <= 0 {
			return "", "", false
		}
		key, line = line[:i], line[i+1:]
	}
	if len(line) >= 2 && line[0] == '"' && line[len(line)-1] == '"' {
		line = line[1 : len(line)-1]
	}
	return key, line, true
}
