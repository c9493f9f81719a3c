package nocloud

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// A small ISO 9660 writer for the cloud-init seed: one root directory of
// small files, with Rock Ridge (RRIP 1.09) names so "meta-data" and
// "user-data" keep their names and modes. It is what genisoimage -rock
// produces for the same input, minus Joliet: Linux (cloud-init and
// machine-os mount the seed with the kernel's isofs) prefers Rock Ridge.
// Every hypervisor attaches such an image as a CD-ROM or a disk.

const isoSector = 2048

// ISOFile is one file of the image.
type ISOFile struct {
	Name string // Rock Ridge name, e.g. "user-data"
	Data []byte
	// Mode is the Rock Ridge permission bits (0 = 0444: readable by
	// all who mount it).
	Mode uint32
}

// isoApplication is the application identifier of the images WriteISO
// writes.
const isoApplication = "DOCKER-MACHINE"

// WriteISO writes an ISO 9660 image with the given volume identifier
// (e.g. "cidata") and files to w. modTime stamps the volume and records.
func WriteISO(w io.Writer, volumeID string, files []ISOFile, modTime time.Time) error {
	return writeISO(w, volumeID, isoApplication, files, modTime)
}

// writeISO is WriteISO with the application identifier recorded in the
// primary volume descriptor (at most 128 bytes).
func writeISO(w io.Writer, volumeID, application string, files []ISOFile, modTime time.Time) error {
	if len(volumeID) > 32 {
		return fmt.Errorf("iso9660: volume id %q is longer than 32 bytes", volumeID)
	}
	if len(application) > 128 {
		return fmt.Errorf("iso9660: application id %q is longer than 128 bytes", application)
	}
	files = append([]ISOFile(nil), files...)
	seen := map[string]bool{}
	type entry struct {
		ISOFile
		isoName string
		extent  uint32
	}
	entries := make([]entry, 0, len(files))
	for _, f := range files {
		if f.Name == "" || strings.ContainsAny(f.Name, "/\x00") || len(f.Name) > 200 {
			return fmt.Errorf("iso9660: bad file name %q", f.Name)
		}
		if seen[f.Name] {
			return fmt.Errorf("iso9660: duplicate file %q", f.Name)
		}
		seen[f.Name] = true
		entries = append(entries, entry{ISOFile: f})
	}
	// ISO level 1 names (8.3, d-characters), unique, sorted as the
	// standard requires.
	used := map[string]bool{}
	for i := range entries {
		entries[i].isoName = isoName(entries[i].Name, used)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].isoName < entries[j].isoName })

	const (
		pvdSector   = 16
		termSector  = 17
		lPathSector = 18
		mPathSector = 19
		rootSector  = 20
	)
	t := modTime.UTC()

	// Root directory: ".", "..", then the files. Each record carries
	// Rock Ridge entries; "." of the root also carries SP and ER.
	var dir bytes.Buffer
	dirSectors := uint32(1)
	build := func() {
		dir.Reset()
		next := rootSector + dirSectors
		for i := range entries {
			entries[i].extent = next
			next += sectors(len(entries[i].Data))
		}
		appendRecord(&dir, []byte{0}, rootSector, dirSectors*isoSector, true, t,
			append(append(suspSP(), rrPX(0o40555, 2)...), suspER()...))
		appendRecord(&dir, []byte{1}, rootSector, dirSectors*isoSector, true, t, rrPX(0o40555, 2))
		for _, e := range entries {
			mode := e.Mode & 0o777
			if mode == 0 {
				mode = 0o444
			}
			su := append(rrPX(0o100000|mode, 1), rrNM(e.Name)...)
			appendRecord(&dir, []byte(e.isoName), e.extent, uint32(len(e.Data)), false, t, su)
		}
	}
	build()
	// Records never straddle sectors; with many files the directory grows.
	for {
		need := dirSize(dir.Bytes())
		if need <= dirSectors {
			break
		}
		dirSectors = need
		build()
	}
	dirData := padRecords(dir.Bytes(), int(dirSectors))
	total := rootSector + dirSectors
	for _, e := range entries {
		total += sectors(len(e.Data))
	}

	img := make([]byte, 0, int(total)*isoSector)
	img = append(img, make([]byte, pvdSector*isoSector)...)

	// Primary volume descriptor.
	pvd := make([]byte, isoSector)
	pvd[0] = 1
	copy(pvd[1:6], "CD001")
	pvd[6] = 1
	copy(pvd[8:40], padSpaces("", 32))
	copy(pvd[40:72], padSpaces(volumeID, 32))
	putBoth32(pvd[80:88], total)
	putBoth16(pvd[120:124], 1)
	putBoth16(pvd[124:128], 1)
	putBoth16(pvd[128:132], isoSector)
	putBoth32(pvd[132:140], 10) // one path table record
	binary.LittleEndian.PutUint32(pvd[140:144], lPathSector)
	binary.BigEndian.PutUint32(pvd[148:152], mPathSector)
	var root bytes.Buffer
	appendRecord(&root, []byte{0}, rootSector, dirSectors*isoSector, true, t, nil)
	copy(pvd[156:190], root.Bytes())
	copy(pvd[190:318], padSpaces("", 128))
	copy(pvd[318:446], padSpaces("", 128))
	copy(pvd[446:574], padSpaces("DOCKER-MACHINE", 128))
	copy(pvd[574:702], padSpaces(application, 128))
	copy(pvd[702:813], padSpaces("", 111))
	copy(pvd[813:830], decDate(t))
	copy(pvd[830:847], decDate(t))
	copy(pvd[847:864], decDate(time.Time{}))
	copy(pvd[864:881], decDate(time.Time{}))
	pvd[881] = 1
	img = append(img, pvd...)

	// Volume descriptor set terminator.
	term := make([]byte, isoSector)
	term[0] = 255
	copy(term[1:6], "CD001")
	term[6] = 1
	img = append(img, term...)

	// Path tables (root only), little- then big-endian.
	lpt := make([]byte, isoSector)
	lpt[0] = 1
	binary.LittleEndian.PutUint32(lpt[2:6], rootSector)
	binary.LittleEndian.PutUint16(lpt[6:8], 1)
	img = append(img, lpt...)
	mpt := make([]byte, isoSector)
	mpt[0] = 1
	binary.BigEndian.PutUint32(mpt[2:6], rootSector)
	binary.BigEndian.PutUint16(mpt[6:8], 1)
	img = append(img, mpt...)

	img = append(img, dirData...)
	for _, e := range entries {
		img = append(img, e.Data...)
		if pad := int(sectors(len(e.Data)))*isoSector - len(e.Data); pad > 0 {
			img = append(img, make([]byte, pad)...)
		}
	}
	_, err := w.Write(img)
	return err
}

func sectors(n int) uint32 { return uint32((n + isoSector - 1) / isoSector) }

// isoName maps a name to a unique ISO 9660 level 1 identifier "NAME.EXT;1".
func isoName(name string, used map[string]bool) string {
	clean := func(s string, n int) string {
		var b strings.Builder
		for _, r := range strings.ToUpper(s) {
			if b.Len() == n {
				break
			}
			if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_' {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i+1:]
	}
	b, e := clean(base, 8), clean(ext, 3)
	cand := b + "." + e + ";1"
	for i := 1; used[cand]; i++ {
		suffix := fmt.Sprint(i)
		bb := b
		if len(bb)+len(suffix) > 8 {
			bb = bb[:8-len(suffix)]
		}
		cand = bb + suffix + "." + e + ";1"
	}
	used[cand] = true
	return cand
}

// appendRecord appends one directory record with system use data su.
func appendRecord(buf *bytes.Buffer, id []byte, extent, size uint32, isDir bool, t time.Time, su []byte) {
	n := 33 + len(id)
	pad := 0
	if n%2 == 1 {
		pad = 1
	}
	length := n + pad + len(su)
	if length%2 == 1 {
		su = append(su, 0)
		length++
	}
	r := make([]byte, length)
	r[0] = byte(length)
	putBoth32(r[2:10], extent)
	putBoth32(r[10:18], size)
	copy(r[18:25], recDate(t))
	if isDir {
		r[25] = 2
	}
	putBoth16(r[28:32], 1)
	r[32] = byte(len(id))
	copy(r[33:], id)
	copy(r[n+pad:], su)
	buf.Write(r)
}

// dirSize returns how many sectors the records need when none may cross
// a sector boundary.
func dirSize(records []byte) uint32 {
	used, secs := 0, uint32(1)
	for off := 0; off < len(records); {
		l := int(records[off])
		if used+l > isoSector {
			secs++
			used = 0
		}
		used += l
		off += l
	}
	return secs
}

func padRecords(records []byte, nsec int) []byte {
	out := make([]byte, 0, nsec*isoSector)
	used := 0
	for off := 0; off < len(records); {
		l := int(records[off])
		if used+l > isoSector {
			out = append(out, make([]byte, isoSector-used)...)
			used = 0
		}
		out = append(out, records[off:off+l]...)
		used += l
		off += l
	}
	return append(out, make([]byte, nsec*isoSector-len(out))...)
}

// SUSP/RRIP entries.

func suspSP() []byte { return []byte{'S', 'P', 7, 1, 0xBE, 0xEF, 0} }

func suspER() []byte {
	const id = "RRIP_1991A"
	const des = "THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS"
	e := []byte{'E', 'R', byte(8 + len(id) + len(des)), 1, byte(len(id)), byte(len(des)), 0, 1}
	e = append(e, id...)
	return append(e, des...)
}

func rrPX(mode, links uint32) []byte {
	e := make([]byte, 36)
	copy(e, "PX")
	e[2], e[3] = 36, 1
	putBoth32(e[4:12], mode)
	putBoth32(e[12:20], links)
	// uid and gid 0
	return e
}

func rrNM(name string) []byte {
	e := []byte{'N', 'M', byte(5 + len(name)), 1, 0}
	return append(e, name...)
}

func putBoth16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b[0:2], v)
	binary.BigEndian.PutUint16(b[2:4], v)
}

func putBoth32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b[0:4], v)
	binary.BigEndian.PutUint32(b[4:8], v)
}

func padSpaces(s string, n int) []byte {
	return []byte(s + strings.Repeat(" ", n-len(s)))
}

// recDate is the 7-byte directory record date (UTC).
func recDate(t time.Time) []byte {
	return []byte{byte(t.Year() - 1900), byte(t.Month()), byte(t.Day()), byte(t.Hour()), byte(t.Minute()), byte(t.Second()), 0}
}

// decDate is the 17-byte volume descriptor date; the zero time is "unset".
func decDate(t time.Time) []byte {
	if t.IsZero() {
		return append([]byte("0000000000000000"), 0)
	}
	return append([]byte(fmt.Sprintf("%04d%02d%02d%02d%02d%02d%02d", t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1e7)), 0)
}
