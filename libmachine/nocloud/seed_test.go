package nocloud

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// isoImage is what readISO finds in an image.
type isoImage struct {
	VolumeID   string
	RockRidge  bool // SP and ER "RRIP_1991A" in the root's "." record
	Files      map[string][]byte
	ISONames   map[string]string // Rock Ridge name -> ISO 9660 name
	Modes      map[string]uint32
	TotalBytes int
}

// readISO parses an ISO 9660 image the way a reader that knows Rock
// Ridge does, independently of the writer.
func readISO(t *testing.T, img []byte) isoImage {
	t.Helper()
	require.Zero(t, len(img)%2048, "whole sectors")
	pvd := img[16*2048 : 17*2048]
	require.Equal(t, byte(1), pvd[0], "primary volume descriptor")
	require.Equal(t, "CD001", string(pvd[1:6]))
	term := img[17*2048 : 18*2048]
	require.Equal(t, byte(255), term[0], "terminator")
	le := binary.LittleEndian.Uint32(pvd[80:84])
	be := binary.BigEndian.Uint32(pvd[84:88])
	require.Equal(t, le, be, "both-endian volume size")
	require.Equal(t, int(le)*2048, len(img), "volume space size")
	require.Equal(t, uint16(2048), binary.LittleEndian.Uint16(pvd[128:130]))

	out := isoImage{
		VolumeID: strings.TrimRight(string(pvd[40:72]), " "),
		Files:    map[string][]byte{}, ISONames: map[string]string{}, Modes: map[string]uint32{},
		TotalBytes: len(img),
	}
	root := pvd[156:190]
	require.Equal(t, byte(34), root[0])
	extent := binary.LittleEndian.Uint32(root[2:6])
	size := binary.LittleEndian.Uint32(root[10:14])
	require.Equal(t, extent, binary.BigEndian.Uint32(root[6:10]))
	// Path table points at the same root.
	lpt := binary.LittleEndian.Uint32(pvd[140:144])
	require.Equal(t, extent, binary.LittleEndian.Uint32(img[lpt*2048+2:]))

	dir := img[extent*2048 : extent*2048+size]
	for sec := 0; sec < len(dir); sec += 2048 {
		for off := sec; off < sec+2048; {
			l := int(dir[off])
			if l == 0 {
				break
			}
			rec := dir[off : off+l]
			require.LessOrEqual(t, off+l, sec+2048, "record crosses a sector")
			nameLen := int(rec[32])
			id := string(rec[33 : 33+nameLen])
			suStart := 33 + nameLen
			if nameLen%2 == 0 {
				suStart++
			}
			var nm string
			var mode uint32
			for su := rec[suStart:]; len(su) >= 4; {
				sig, sl := string(su[:2]), int(su[2])
				if sl < 4 || sl > len(su) {
					break
				}
				e := su[:sl]
				switch sig {
				case "SP":
					require.Equal(t, []byte{0xBE, 0xEF}, e[4:6])
					out.RockRidge = true
				case "ER":
					lid := int(e[4])
					assert.Equal(t, "RRIP_1991A", string(e[8:8+lid]))
				case "NM":
					nm += string(e[5:])
				case "PX":
					mode = binary.LittleEndian.Uint32(e[4:8])
				}
				su = su[sl:]
			}
			flags := rec[25]
			if id != "\x00" && id != "\x01" {
				require.Zero(t, flags&2, "only files in the root")
				fext := binary.LittleEndian.Uint32(rec[2:6])
				fsize := binary.LittleEndian.Uint32(rec[10:14])
				require.NotEmpty(t, nm, "Rock Ridge name of %s", id)
				out.Files[nm] = img[fext*2048 : fext*2048+fsize]
				out.ISONames[nm] = id
				out.Modes[nm] = mode
			}
			off += l
		}
	}
	return out
}

func testSeed() Seed {
	return Seed{
		Driver:         "qemu",
		InstanceID:     "iid-default-0123456789ab",
		Hostname:       "default",
		User:           "docker",
		AuthorizedKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1yXf4oZ3m9uYd1v3R8Qm5m6bR0fW1yZ2x3Y4Z5a6b7"},
	}
}

func TestSeedISO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "seed.iso")
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, WriteSeedISO(p, testSeed(), when))
	img, err := os.ReadFile(p)
	require.NoError(t, err)
	iso := readISO(t, img)
	assert.Equal(t, "cidata", iso.VolumeID)
	assert.True(t, iso.RockRidge)
	assert.Len(t, iso.Files, 2)
	assert.Equal(t, "instance-id: iid-default-0123456789ab\nlocal-hostname: default\n", string(iso.Files["meta-data"]))
	assert.Equal(t, "META_DAT.;1", iso.ISONames["meta-data"])
	assert.Equal(t, "USER_DAT.;1", iso.ISONames["user-data"])
	assert.Equal(t, uint32(0o100444), iso.Modes["user-data"])
	ud := string(iso.Files["user-data"])
	assert.True(t, strings.HasPrefix(ud, "#cloud-config\n# Written by docker-machine (qemu driver).\n"), ud)
	assert.Equal(t, "DOCKER-MACHINE QEMU DRIVER", strings.TrimRight(string(img[16*2048+574:16*2048+702]), " "), "application id")
	for _, want := range []string{
		`hostname: "default"`,
		`  - name: "docker"`,
		`    sudo: "ALL=(ALL) NOPASSWD:ALL"`,
		`    lock_passwd: true`,
		`    no_user_group: true`,
		`      - "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1yXf4oZ3m9uYd1v3R8Qm5m6bR0fW1yZ2x3Y4Z5a6b7"`,
		"ssh_pwauth: false",
		"disable_root: true",
	} {
		assert.Contains(t, ud, want+"\n")
	}
	// Small: 20 sectors of headers and directory, one per file.
	assert.Equal(t, 23*2048, iso.TotalBytes)

	// Deterministic for the same input.
	var a, b bytes.Buffer
	require.NoError(t, WriteISO(&a, "cidata", []ISOFile{{Name: "x", Data: []byte("1")}}, when))
	require.NoError(t, WriteISO(&b, "cidata", []ISOFile{{Name: "x", Data: []byte("1")}}, when))
	assert.Equal(t, a.Bytes(), b.Bytes())
}

func TestISOManyAndLargeFiles(t *testing.T) {
	var files []ISOFile
	for i := range 40 {
		files = append(files, ISOFile{Name: fmt.Sprintf("some-long-file-name-%02d.data", i), Data: bytes.Repeat([]byte{byte(i)}, 3000+i)})
	}
	var buf bytes.Buffer
	require.NoError(t, WriteISO(&buf, "cidata", files, time.Unix(0, 0)))
	iso := readISO(t, buf.Bytes())
	require.Len(t, iso.Files, 40)
	seen := map[string]bool{}
	for _, f := range files {
		assert.Equal(t, f.Data, iso.Files[f.Name], f.Name)
		assert.False(t, seen[iso.ISONames[f.Name]], "ISO names are unique")
		seen[iso.ISONames[f.Name]] = true
	}
	assert.Error(t, WriteISO(&buf, strings.Repeat("x", 33), nil, time.Now()))
	assert.Error(t, WriteISO(&buf, "cidata", []ISOFile{{Name: "a/b"}}, time.Now()))
	assert.Error(t, WriteISO(&buf, "cidata", []ISOFile{{Name: "a"}, {Name: "a"}}, time.Now()))
}

func TestSeedWithoutDriver(t *testing.T) {
	s := testSeed()
	s.Driver = ""
	assert.True(t, strings.HasPrefix(string(s.UserData()), "#cloud-config\n# Written by docker-machine.\n"))
	p := filepath.Join(t.TempDir(), "seed.iso")
	require.NoError(t, WriteSeedISO(p, s, time.Now()))
	img, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "DOCKER-MACHINE", strings.TrimRight(string(img[16*2048+574:16*2048+702]), " "), "application id")
	assert.Equal(t, s.UserData(), readISO(t, img).Files["user-data"])
}

func TestSeedRootUserAndMounts(t *testing.T) {
	s := testSeed()
	s.User = "root"
	s.Mounts = []SeedMount{{Tag: "share0", Path: "/Users"}}
	ud := string(s.UserData())
	assert.Contains(t, ud, "disable_root: false\n")
	assert.NotContains(t, ud, "sudo:")
	assert.Contains(t, ud, `  - [ "share0", "/Users", "9p", "trans=virtio,version=9p2000.L,msize=262144,nofail", "0", "0" ]`+"\n")
}

func TestSeedValidate(t *testing.T) {
	ok := testSeed()
	require.NoError(t, ok.Validate())
	for name, mut := range map[string]func(*Seed){
		"user with a quote":  func(s *Seed) { s.User = `do"cker` },
		"upper-case user":    func(s *Seed) { s.User = "Docker" },
		"hostname with _":    func(s *Seed) { s.Hostname = "a_b" },
		"two-line key":       func(s *Seed) { s.AuthorizedKeys = []string{"ssh-ed25519 A\nB"} },
		"relative mount":     func(s *Seed) { s.Mounts = []SeedMount{{Tag: "share0", Path: "x"}} },
		"mount with a comma": func(s *Seed) { s.Mounts = []SeedMount{{Tag: "share0", Path: "/a,b"}} },
		"no instance id":     func(s *Seed) { s.InstanceID = "" },
		"driver with space":  func(s *Seed) { s.Driver = "my driver" },
	} {
		s := testSeed()
		mut(&s)
		assert.Error(t, s.Validate(), name)
	}
}

// TestSeedReaderParsesUserData runs machine-os's seed reader (its parse
// mode only) on the user-data the driver writes.
func TestSeedReaderParsesUserData(t *testing.T) {
	script := filepath.Join("..", "..", "machine-os", "overlay", "usr", "local", "sbin", "machine-os-seed")
	if _, err := exec.LookPath("awk"); err != nil {
		t.Skip("no awk")
	}
	s := testSeed()
	s.Mounts = []SeedMount{{Tag: "share0", Path: "/hosthome"}}
	s.AuthorizedKeys = append(s.AuthorizedKeys, "ssh-rsa AAAAB3Nza second@key")
	ud := filepath.Join(t.TempDir(), "user-data")
	require.NoError(t, os.WriteFile(ud, s.UserData(), 0o600))
	out, err := exec.Command("sh", script, "--parse", ud).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, strings.Join([]string{
		"hostname default",
		"user docker",
		"sudo ALL=(ALL) NOPASSWD:ALL",
		"shell /bin/bash",
		"key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1yXf4oZ3m9uYd1v3R8Qm5m6bR0fW1yZ2x3Y4Z5a6b7",
		"key ssh-rsa AAAAB3Nza second@key",
		"mount share0 /hosthome 9p trans=virtio,version=9p2000.L,msize=262144,nofail",
	}, "\n")+"\n", string(out))
}

// seedFiles are write_files as the qemu driver hands them over: text
// with comment lines, blank lines, indentation, a key readable by root
// only, and a file without a final newline.
func seedFiles() []SeedFile {
	return []SeedFile{
		{Path: "/etc/docker/ca.pem", Mode: 0o644, Content: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")},
		{Path: "/etc/docker/server-key.pem", Mode: 0o600, Content: []byte("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n")},
		{Path: "/etc/systemd/system/docker.service.d/10-machine.conf", Mode: 0o644, Content: []byte("# Written by docker-machine\n[Service]\n\n\nExecStart=\nExecStart=/usr/sbin/dockerd --label \"a b\"  --x=$$y %%\n  indented: - [x]\n\tEnvironment=\"A=1\"\n")},
		{Path: "/etc/machine-os/no-newline", Mode: 0o400, Content: []byte("one\ntwo")},
		{Path: "/etc/machine-os/empty", Mode: 0o644},
	}
}

// TestSeedReaderWritesFiles runs machine-os's seed reader on the
// user-data with write_files: it understands every file, writes each
// byte for byte with its mode, and leaves the rest of the seed as it was.
func TestSeedReaderWritesFiles(t *testing.T) {
	script := filepath.Join("..", "..", "machine-os", "overlay", "usr", "local", "sbin", "machine-os-seed")
	if _, err := exec.LookPath("awk"); err != nil {
		t.Skip("no awk")
	}
	s := testSeed()
	s.Mounts = []SeedMount{{Tag: "share0", Path: "/hosthome"}}
	s.Files = seedFiles()
	require.NoError(t, s.Validate())
	dir := t.TempDir()
	ud := filepath.Join(dir, "user-data")
	require.NoError(t, os.WriteFile(ud, s.UserData(), 0o600))

	out, err := exec.Command("sh", script, "--parse", ud).CombinedOutput()
	require.NoError(t, err, string(out))
	var kinds []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, _, _ := strings.Cut(l, " "); k != "data" {
			kinds = append(kinds, l)
		}
	}
	assert.Equal(t, []string{
		"hostname default",
		"user docker",
		"sudo ALL=(ALL) NOPASSWD:ALL",
		"shell /bin/bash",
		"key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1yXf4oZ3m9uYd1v3R8Qm5m6bR0fW1yZ2x3Y4Z5a6b7",
		"mount share0 /hosthome 9p trans=virtio,version=9p2000.L,msize=262144,nofail",
		"file /etc/docker/ca.pem 0644", "end clip",
		"file /etc/docker/server-key.pem 0600", "end clip",
		"file /etc/systemd/system/docker.service.d/10-machine.conf 0644", "end clip",
		"file /etc/machine-os/no-newline 0400", "end strip",
		"file /etc/machine-os/empty 0644", "end strip",
	}, kinds)

	root := filepath.Join(dir, "root")
	require.NoError(t, os.Mkdir(root, 0o755))
	out, err = exec.Command("sh", script, "--write-files", ud, root).CombinedOutput()
	require.NoError(t, err, string(out))
	var paths []string
	for _, f := range s.Files {
		paths = append(paths, f.Path)
		got, err := os.ReadFile(filepath.Join(root, f.Path))
		require.NoError(t, err, f.Path)
		assert.Equal(t, string(f.Content), string(got), f.Path)
		st, err := os.Stat(filepath.Join(root, f.Path))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(f.Mode), st.Mode().Perm(), f.Path)
	}
	assert.Equal(t, strings.Join(paths, "\n")+"\n", string(out), "the reader names what it wrote")

	// The seed image: user-data readable by root only when it has files.
	p := filepath.Join(dir, "seed.iso")
	require.NoError(t, WriteSeedISO(p, s, time.Now()))
	img, err := os.ReadFile(p)
	require.NoError(t, err)
	iso := readISO(t, img)
	assert.Equal(t, uint32(0o100400), iso.Modes["user-data"])
	assert.Equal(t, uint32(0o100444), iso.Modes["meta-data"])
	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestSeedFilesValidate(t *testing.T) {
	for name, f := range map[string]SeedFile{
		"relative path":     {Path: "etc/x", Mode: 0o644},
		"path with a space": {Path: "/etc/a b", Mode: 0o644},
		"path with ..":      {Path: "/etc/../x", Mode: 0o644},
		"odd mode":          {Path: "/etc/x", Mode: 0o666},
		"executable":        {Path: "/etc/x", Mode: 0o755},
		"carriage return":   {Path: "/etc/x", Mode: 0o644, Content: []byte("a\r\n")},
		"NUL":               {Path: "/etc/x", Mode: 0o644, Content: []byte("a\x00")},
		"not UTF-8":         {Path: "/etc/x", Mode: 0o644, Content: []byte{0xff, '\n'}},
		"leading blank":     {Path: "/etc/x", Mode: 0o644, Content: []byte(" a\n")},
		"empty last line":   {Path: "/etc/x", Mode: 0o644, Content: []byte("a\n\n")},
	} {
		s := testSeed()
		s.Files = []SeedFile{f}
		err := s.Validate()
		if assert.Error(t, err, name) && len(f.Content) > 0 {
			assert.NotContains(t, err.Error(), string(f.Content), "no content in errors")
		}
	}
}

// TestSeedISOWithIsoinfo cross-checks the image with isoinfo (genisoimage)
// when it is installed.
func TestSeedISOWithIsoinfo(t *testing.T) {
	if _, err := exec.LookPath("isoinfo"); err != nil {
		t.Skip("isoinfo not installed (apt-get install genisoimage)")
	}
	p := filepath.Join(t.TempDir(), "seed.iso")
	require.NoError(t, WriteSeedISO(p, testSeed(), time.Now()))
	out, err := exec.Command("isoinfo", "-d", "-i", p).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "Volume id: cidata")
	assert.Contains(t, string(out), "Rock Ridge signatures version 1 found")
	out, err = exec.Command("isoinfo", "-R", "-f", "-i", p).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.ElementsMatch(t, []string{"/meta-data", "/user-data"}, strings.Fields(string(out)))
	out, err = exec.Command("isoinfo", "-R", "-x", "/meta-data", "-i", p).CombinedOutput()
	require.NoError(t, err)
	assert.Equal(t, string(testSeed().MetaData()), string(out))
}

// TestSeedISOMountsOnLinux mounts the image with the kernel's isofs (what
// cloud-init and machine-os do) when the test runs as root with loop
// devices.
func TestSeedISOMountsOnLinux(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "seed.iso")
	require.NoError(t, WriteSeedISO(p, testSeed(), time.Now()))
	mnt := filepath.Join(dir, "mnt")
	require.NoError(t, os.Mkdir(mnt, 0o700))
	if out, err := exec.Command("mount", "-o", "loop,ro", "-t", "iso9660", p, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot loop-mount here: %s", out)
	}
	defer exec.Command("umount", mnt).Run()
	entries, err := os.ReadDir(mnt)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"meta-data", "user-data"}, names)
	data, err := os.ReadFile(filepath.Join(mnt, "user-data"))
	require.NoError(t, err)
	assert.Equal(t, testSeed().UserData(), data)
	if out, err := exec.Command("blkid", "-o", "value", "-s", "LABEL", p).Output(); err == nil {
		assert.Equal(t, "cidata", strings.TrimSpace(string(out)))
	}
}
