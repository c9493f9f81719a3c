package qemu

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// whpxAvailable asks the Windows Hypervisor Platform API whether the
// hypervisor is present (WHvGetCapability with
// WHvCapabilityCodeHypervisorPresent). WinHvPlatform.dll exists only
// when the "Windows Hypervisor Platform" feature is enabled.
func whpxAvailable() bool {
	dll := windows.NewLazySystemDLL("WinHvPlatform.dll")
	proc := dll.NewProc("WHvGetCapability")
	if proc.Find() != nil {
		return false
	}
	const capabilityHypervisorPresent = 0
	var present uint32 // BOOL
	var written uint32
	hr, _, _ := proc.Call(capabilityHypervisorPresent, uintptr(unsafe.Pointer(&present)), unsafe.Sizeof(present), uintptr(unsafe.Pointer(&written)))
	return hr == 0 && present != 0 // S_OK
}
