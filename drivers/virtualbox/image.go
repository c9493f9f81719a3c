package virtualbox

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/b2d"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/vmimage"
)

// progressOut receives download progress lines (the original printed
// them on stdout; tests replace it).
var progressOut io.Writer = os.Stdout

func (d *Driver) cacheDir() string { return filepath.Join(d.StorePath, "cache") }

func (d *Driver) isoCache() *b2d.Cache {
	return &b2d.Cache{Dir: d.cacheDir(), Progress: d.progress(), Prefix: "(" + d.MachineName + ") "}
}

// progress is where the percentage line goes, after the machine's name
// as the original's plugin output showed it (a plugin's client adds the
// name itself).
func (d *Driver) progress() io.Writer {
	if os.Getenv("MACHINE_PLUGIN_TOKEN") != "" {
		return progressOut
	}
	return &prefixWriter{w: progressOut, prefix: "(" + d.MachineName + ") "}
}

// prefixWriter writes prefix before the first byte of every line.
type prefixWriter struct {
	w      io.Writer
	prefix string
	mid    bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	for _, c := range b {
		if !p.mid {
			if _, err := io.WriteString(p.w, p.prefix); err != nil {
				return 0, err
			}
			p.mid = true
		}
		if _, err := p.w.Write([]byte{c}); err != nil {
			return 0, err
		}
		if c == '\n' {
			p.mid = false
		}
	}
	return len(b), nil
}

// prepareImage makes what the VM boots local: the boot2docker ISO in the
// cache (the latest release when no URL was given) or the machine-os
// disk. PreCreateCheck calls it so that a failed download leaves no
// machine; Create calls it again (a no-op then).
func (d *Driver) prepareImage(ctx context.Context) error {
	if d.isBoot2Docker() {
		if d.isoPath != "" {
			return nil
		}
		p, err := d.isoCache().ISO(ctx, d.Boot2DockerURL)
		if err != nil {
			return err
		}
		if vmimage.IsURL(d.Boot2DockerURL) && !b2d.IsReleasesAPI(d.Boot2DockerURL) {
			log.Warnf("(%s) Boot2Docker URL was explicitly set to %q at create time, so Docker Machine cannot upgrade this machine to the latest version.", d.MachineName, d.Boot2DockerURL)
		}
		d.isoPath = p
		return nil
	}
	if d.imagePath != "" {
		return nil
	}
	p, err := d.machineOSImage(ctx)
	if err != nil {
		return err
	}
	d.imagePath = p
	return nil
}

// copyISO puts the ISO into the machine directory.
func (d *Driver) copyISO() error {
	dst := d.path(isoFilename)
	log.Infof("(%s) Copying %s to %s...", d.MachineName, d.isoPath, dst)
	return b2d.CopyFile(d.isoPath, dst)
}

// machineOSImage returns the local machine-os VMDK: --virtualbox-image
// downloaded into the cache (URL) or as given (path, or a machine-os
// build directory), else the newest local machine-os build, copied into
// the store's cache.
func (d *Driver) machineOSImage(ctx context.Context) (string, error) {
	switch {
	case vmimage.IsURL(d.Image):
		var progress vmimage.Progress
		if _, err := os.Stat(vmimage.CachedImagePath(d.cacheDir(), d.Image, d.ImageChecksum)); err != nil {
			log.Infof("(%s) Downloading %s...", d.MachineName, d.Image)
			progress = b2d.Percentages(d.progress())
		}
		return vmimage.FetchImage(ctx, nil, d.cacheDir(), d.Image, d.ImageChecksum, progress)
	case d.Image != "":
		p, err := localImage(d.Image)
		if err != nil {
			return "", err
		}
		return p, vmimage.Verify(p, d.ImageChecksum)
	}
	build, key, err := findMachineOSBuild()
	if err != nil {
		return "", err
	}
	dst := filepath.Join(d.cacheDir(), "machine-os-"+key+".vmdk")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(d.cacheDir(), 0o700); err != nil {
		return "", err
	}
	log.Infof("(%s) Copying machine-os %s to %s...", d.MachineName, build, dst)
	if err := linkOrCopy(build, dst); err != nil {
		return "", err
	}
	return dst, nil
}

// localImage resolves a path given as --virtualbox-image: a file, or a
// machine-os build directory holding machine-os.vmdk.
func localImage(p string) (string, error) {
	p = strings.TrimPrefix(p, "file://")
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("--virtualbox-image %s: %w", p, err)
	}
	if fi.IsDir() {
		abs = filepath.Join(abs, machineOSVMDK)
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("--virtualbox-image: the directory %s has no %s (machine-os/build.sh makes it)", p, machineOSVMDK)
		}
	}
	return abs, nil
}

// machineOSVMDK is the VirtualBox disk of a machine-os build.
const machineOSVMDK = "machine-os.vmdk"

// machineOSCacheDir is where machine-os/build.sh keeps its builds (the
// same rule as build.sh's).
func machineOSCacheDir() string {
	if d := os.Getenv("MACHINE_OS_CACHE"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/cache/docker-machine/machine-os"
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "docker-machine", "machine-os")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "docker-machine", "machine-os")
}

// ErrNoMachineOS: no image to boot.
var ErrNoMachineOS = errors.New("no machine-os image for VirtualBox: build one with 'make image' (machine-os/build.sh, as root), or give --virtualbox-image URL|PATH, or --virtualbox-boot2docker-url for a boot2docker ISO")

// findMachineOSBuild returns the VMDK of the newest complete machine-os
// build (one with a manifest) and its recipe key.
func findMachineOSBuild() (string, string, error) {
	var best, bestKey string
	var bestTime int64
	dir := machineOSCacheDir()
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			m, err := os.Stat(filepath.Join(dir, e.Name(), "manifest"))
			if err != nil {
				continue
			}
			vmdk := filepath.Join(dir, e.Name(), machineOSVMDK)
			if _, err := os.Stat(vmdk); err != nil {
				continue
			}
			if t := m.ModTime().UnixNano(); best == "" || t > bestTime {
				best, bestKey, bestTime = vmdk, e.Name(), t
			}
		}
	}
	if best == "" {
		return "", "", ErrNoMachineOS
	}
	return best, bestKey, nil
}

// linkOrCopy hard-links src to dst, or copies it (another file system).
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return b2d.CopyFile(src, dst)
}

// vmdkCapacityMB reads the virtual size of a VMDK: the capacity of a
// sparse extent's header ("KDMV"), or the sum of the extents of a
// descriptor file.
func vmdkCapacityMB(p string) (int, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	hdr := make([]byte, 20)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return 0, fmt.Errorf("%s is not a VMDK disk: %w", p, err)
	}
	if string(hdr[:4]) == "KDMV" {
		sectors := binary.LittleEndian.Uint64(hdr[12:20])
		return int((sectors*512 + 1<<20 - 1) >> 20), nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	var sectors uint64
	s := bufio.NewScanner(io.LimitReader(f, 64<<10))
	for s.Scan() {
		fs := strings.Fields(s.Text())
		// RW 8388608 FLAT "disk-flat.vmdk" 0
		if len(fs) >= 3 && (fs[0] == "RW" || fs[0] == "RDONLY") {
			n, err := strconv.ParseUint(fs[1], 10, 64)
			if err == nil {
				sectors += n
			}
		}
	}
	if sectors == 0 {
		return 0, fmt.Errorf("%s is not a VMDK disk", p)
	}
	return int((sectors*512 + 1<<20 - 1) >> 20), nil
}
