package qemu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/term"

	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/nocloud"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
	"github.com/docker-machine-ng/machine/libmachine/vmimage"
)

// Create makes the key, the seed, the overlay and boots the VM; it returns
// when the guest's SSH server answers. ctx stops the image download, the
// accelerator probe, the wait for the address lock and the boot wait;
// what was made (the running VM, its files) is left for Remove.
func (d *Driver) Create(ctx context.Context) error {
	t0 := time.Now()
	log.Infof("(%s) Creating SSH key...", d.MachineName)
	key := d.path(KeyFile)
	if err := ssh.GenerateKeyPair(key); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	d.SSHKeyPath = key
	d.timed("key", t0)

	t := time.Now()
	if err := d.prepareImage(ctx); err != nil {
		return err
	}
	d.timed("image", t)

	t = time.Now()
	if err := d.resolveAccel(ctx); err != nil {
		return err
	}
	d.timed("accel", t)

	log.Infof("(%s) Starting QEMU VM...", d.MachineName)
	t = time.Now()
	alloc := d.allocator()
	unlock, err := alloc.Lock(ctx)
	if err != nil {
		return err
	}
	addr, err := alloc.AllocateLocked(d.MachineName)
	if err != nil {
		unlock()
		return err
	}
	d.IPAddress, d.SSHPort, d.EnginePort = addr.IP, addr.SSHPort, addr.EnginePort
	log.Debugf("(%s) qemu: address %s", d.MachineName, addr)
	d.timed("address", t)
	// The seed is written once the address is known: the engine's
	// configuration in it names it.
	t = time.Now()
	engine, err := d.writeSeed(ctx, key, true)
	if err != nil {
		unlock()
		return err
	}
	d.timed("seed", t)
	// Keep the lock until qemu listens on the forwarded ports, so the next
	// allocation's port checks see them.
	t = time.Now()
	err = d.launch()
	unlock()
	if err != nil {
		return err
	}
	d.timed("qemu-start", t)
	t = time.Now()
	if err := d.waitForSSH(ctx); err != nil {
		return err
	}
	d.timed("boot-to-ssh", t)
	if engine {
		// The guest has read the seed before its sshd started: the
		// server key leaves the seed image (qemu keeps reading the old
		// one, unlinked, until it exits; later boots get this one).
		if _, err := d.writeSeed(ctx, key, false); err != nil {
			return err
		}
	}
	if d.BootMode == BootFirmware {
		t2 := time.Now()
		if err := d.waitForCloudInit(ctx, t.Add(d.bootTimeout())); err != nil {
			return err
		}
		d.timed("cloud-init", t2)
	}
	d.timed("create", t0)
	return nil
}

// prepareImage downloads the image if needed, creates the overlay and
// picks the boot mode.
func (d *Driver) prepareImage(ctx context.Context) error {
	var base string
	if vmimage.IsURL(d.Image) {
		var progress vmimage.Progress
		if term.IsTerminal(int(os.Stderr.Fd())) {
			progress = vmimage.TerminalProgress(os.Stderr, d.MachineName, d.Image)
		}
		if _, err := os.Stat(vmimage.CachedImagePath(d.cacheDir(), d.Image, d.ImageChecksum)); err != nil {
			log.Infof("(%s) Downloading %s...", d.MachineName, d.Image)
		}
		p, err := vmimage.FetchImage(ctx, nil, d.cacheDir(), d.Image, d.ImageChecksum, progress)
		if err != nil {
			return err
		}
		base = p
	} else {
		p, err := ResolveLocalImage(d.Image)
		if err != nil {
			return err
		}
		if err := vmimage.Verify(p, d.ImageChecksum); err != nil {
			return err
		}
		base = p
	}
	info, err := QemuImgInfo(d.qemuImg(), base)
	if err != nil {
		return err
	}
	d.BaseImage, d.BaseImageFormat = base, info.Format
	size := d.DiskSize
	if minMB := int((info.VirtualSize + 1<<20 - 1) >> 20); size < minMB {
		log.Infof("(%s) The image is %d MB: the disk gets that size instead of %d MB", d.MachineName, minMB, size)
		size = minMB
		d.DiskSize = size
	}
	if err := CreateOverlay(d.qemuImg(), base, info.Format, d.path(DiskFile), size); err != nil {
		return err
	}
	d.BootMode = BootFirmware
	if !vmimage.IsURL(d.Image) {
		if b, ok := FindBootFiles(base); ok {
			d.BootMode, d.Kernel, d.Initrd, d.KernelCmdline = BootKernel, b.Kernel, b.Initrd, b.Cmdline
		}
	}
	if err := d.setupFirmware(); err != nil {
		return err
	}
	if err := d.copyFirmwareVars(); err != nil {
		return err
	}
	log.Debugf("(%s) qemu: base image %s (%s), boot mode %s", d.MachineName, base, info.Format, d.BootMode)
	return nil
}

// writeSeed writes the NoCloud seed: the SSH user with the public half of
// key, the hostname, the shared folder's mount and, with engine and for
// machine-os, the engine's configuration (engineseed.go); it tells
// whether the seed carries the latter.
func (d *Driver) writeSeed(ctx context.Context, key string, engine bool) (bool, error) {
	pub, err := ssh.PublicKey(key)
	if err != nil {
		return false, err
	}
	if d.InstanceID == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		d.InstanceID = "iid-" + d.MachineName + "-" + hex.EncodeToString(b)
	}
	seed := nocloud.Seed{Driver: Name, InstanceID: d.InstanceID, Hostname: d.MachineName, User: d.SSHUser, AuthorizedKeys: []string{pub}}
	if _, guest, _ := d.share(); guest != "" {
		seed.Mounts = []nocloud.SeedMount{{Tag: shareTag, Path: guest}}
	}
	if engine {
		seed.Files = d.engineSeedFiles(ctx, seed)
	}
	if err := nocloud.WriteSeedISO(d.path(SeedFile), seed, time.Now()); err != nil {
		return false, fmt.Errorf("writing the cloud-init seed: %w", err)
	}
	return len(seed.Files) > 0, nil
}

// resolveAccel runs accelerator detection (none for a guest of another
// architecture than the host's: TCG) and warns once about TCG.
func (d *Driver) resolveAccel(ctx context.Context) error {
	choice, cross, err := crossArchAccel(d.Accel, d.guestArch())
	if !cross {
		choice, err = DetectAccel(ctx, d.Accel, HostAccelProbes(d.Binary, d.Kernel), filepath.Join(d.cacheDir(), "qemu-accel.json"))
	}
	if err != nil {
		return err
	}
	d.AccelUsed = choice.Accel
	if d.Accel == AccelAuto && choice.Accel == AccelTCG {
		log.Warnf("(%s) No hardware acceleration (%s): using TCG software emulation, which is slow.", d.MachineName, choice.Reason)
	}
	log.Debugf("(%s) qemu: accelerator %s (requested %s, cached %v)", d.MachineName, choice.Accel, d.Accel, choice.Cached)
	return nil
}
