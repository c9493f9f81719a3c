package platforms

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// ForwarderDLL returns a PE32+ (x86-64) DLL that holds nothing but an
// export table whose entries forward to functions of other DLLs: for each
// name of exports, the target "dll.Function" (as a forwarder string, so
// the loader resolves the target in place of the export). The DLL has no
// code, no imports and no entry point.
//
// Go 1.22 and later programs for Windows load ProcessPrng from
// bcryptprimitives.dll at start-up, which Debian 12's Wine (8.0) does
// not have; a bcryptprimitives.dll forwarding ProcessPrng to advapi32's
// RtlGenRandom (SystemFunction036, same arguments; its BOOLEAN result is
// what the runtime reads, the low byte) lets them run there.
func ForwarderDLL(name string, exports map[string]string) []byte {
	names := make([]string, 0, len(exports))
	for n := range exports {
		names = append(names, n)
	}
	// The loader finds names by binary search: they must be sorted.
	sortStrings(names)

	const (
		fileAlign = 0x200
		sectRVA   = 0x1000
		sectAlign = 0x1000
		headers   = 0x200
	)
	// The export section: directory, address table, name pointers,
	// ordinals, then the strings.
	n := uint32(len(names))
	dirSize := uint32(40)
	eat := sectRVA + dirSize
	npt := eat + 4*n
	ord := npt + 4*n
	strs := ord + 2*n
	var strBuf bytes.Buffer
	addStr := func(s string) uint32 {
		rva := strs + uint32(strBuf.Len())
		strBuf.WriteString(s)
		strBuf.WriteByte(0)
		return rva
	}
	dllName := addStr(name)
	nameRVAs := make([]uint32, n)
	fwdRVAs := make([]uint32, n)
	for i, e := range names {
		nameRVAs[i] = addStr(e)
		fwdRVAs[i] = addStr(exports[e])
	}
	var sect bytes.Buffer
	w := func(v any) { binary.Write(&sect, binary.LittleEndian, v) }
	w(uint32(0))       // Characteristics
	w(uint32(0))       // TimeDateStamp
	w(uint16(0))       // MajorVersion
	w(uint16(0))       // MinorVersion
	w(dllName)         // Name
	w(uint32(1))       // Base (first ordinal)
	w(n)               // NumberOfFunctions
	w(n)               // NumberOfNames
	w(eat)             // AddressOfFunctions
	w(npt)             // AddressOfNames
	w(ord)             // AddressOfNameOrdinals
	w(fwdRVAs)         // address table: forwarder strings
	w(nameRVAs)        // name pointer table
	for i := range n { // ordinal table
		w(uint16(i))
	}
	sect.Write(strBuf.Bytes())
	exportSize := uint32(sect.Len()) // forwarders lie inside the export directory
	raw := align(uint32(sect.Len()), fileAlign)

	var b bytes.Buffer
	wb := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	// DOS header: only e_magic and e_lfanew matter.
	dos := make([]byte, 64)
	copy(dos, "MZ")
	binary.LittleEndian.PutUint32(dos[60:], 64)
	b.Write(dos)
	b.WriteString("PE\x00\x00")
	// COFF file header.
	wb(uint16(0x8664))                   // Machine: AMD64
	wb(uint16(1))                        // NumberOfSections
	wb(uint32(0))                        // TimeDateStamp
	wb(uint32(0))                        // PointerToSymbolTable
	wb(uint32(0))                        // NumberOfSymbols
	wb(uint16(240))                      // SizeOfOptionalHeader (PE32+)
	wb(uint16(0x2000 | 0x0020 | 0x0002)) // DLL | LARGE_ADDRESS_AWARE | EXECUTABLE_IMAGE
	// Optional header, PE32+.
	wb(uint16(0x20b))                                  // Magic
	wb(uint8(14))                                      // MajorLinkerVersion
	wb(uint8(0))                                       // MinorLinkerVersion
	wb(uint32(0))                                      // SizeOfCode
	wb(raw)                                            // SizeOfInitializedData
	wb(uint32(0))                                      // SizeOfUninitializedData
	wb(uint32(0))                                      // AddressOfEntryPoint: none
	wb(uint32(sectRVA))                                // BaseOfCode
	wb(uint64(0x180000000))                            // ImageBase
	wb(uint32(sectAlign))                              // SectionAlignment
	wb(uint32(fileAlign))                              // FileAlignment
	wb([6]uint16{6, 0, 0, 0, 6, 0})                    // OS, image and subsystem versions
	wb(uint32(0))                                      // Win32VersionValue
	wb(sectRVA + align(uint32(sect.Len()), sectAlign)) // SizeOfImage
	wb(uint32(headers))                                // SizeOfHeaders
	wb(uint32(0))                                      // CheckSum
	wb(uint16(3))                                      // Subsystem: console
	wb(uint16(0x0100))                                 // DllCharacteristics: NX_COMPAT
	wb([4]uint64{0x100000, 0x1000, 0x100000, 0x1000})  // stack and heap reserve, commit
	wb(uint32(0))                                      // LoaderFlags
	wb(uint32(16))                                     // NumberOfRvaAndSizes
	dirs := make([]uint32, 32)
	dirs[0], dirs[1] = sectRVA, exportSize // the export table
	wb(dirs)
	// Section header.
	var sname [8]byte
	copy(sname[:], ".edata")
	wb(sname)
	wb(uint32(sect.Len())) // VirtualSize
	wb(uint32(sectRVA))    // VirtualAddress
	wb(raw)                // SizeOfRawData
	wb(uint32(headers))    // PointerToRawData
	wb([3]uint32{})        // relocations, line numbers, their counts
	wb(uint32(0x40000040)) // INITIALIZED_DATA | MEM_READ
	if b.Len() > headers {
		panic(fmt.Sprintf("PE headers are %d bytes", b.Len()))
	}
	b.Write(make([]byte, headers-b.Len()))
	b.Write(sect.Bytes())
	b.Write(make([]byte, int(raw)-sect.Len()))
	return b.Bytes()
}

func align(v, a uint32) uint32 { return (v + a - 1) &^ (a - 1) }

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && strings.Compare(s[j-1], s[j]) > 0; j-- {
			s[j-1], s[j] = s[j], s[j-1]
		}
	}
}
