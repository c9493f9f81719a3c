package fakevbox

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
)

// osTypes maps --ostype ids to the descriptions showvminfo prints.
var osTypes = map[string]string{
	"Linux26_64": "Linux 2.6 / 3.x / 4.x / 5.x (64-bit)",
	"Other":      "Other/Unknown",
}

// writeVMInfo prints `showvminfo --machinereadable` as VirtualBox 7.0
// does (the keys the original driver and users' scripts read, and the
// usual ones around them).
func writeVMInfo(w io.Writer, v *VM) {
	q := func(k, val string) { fmt.Fprintf(w, "%s=\"%s\"\n", k, val) }
	n := func(k, val string) { fmt.Fprintf(w, "%s=%s\n", k, val) }
	set := func(k, def string) string {
		if val, ok := v.Settings[k]; ok {
			return val
		}
		return def
	}
	q("name", v.Name)
	q("groups", "/")
	ost := set("ostype", "Other")
	if d, ok := osTypes[ost]; ok {
		ost = d
	}
	q("ostype", ost)
	q("UUID", v.UUID)
	q("CfgFile", v.CfgFile)
	q("SnapFldr", filepath.Join(filepath.Dir(v.CfgFile), "Snapshots"))
	q("LogFldr", filepath.Join(filepath.Dir(v.CfgFile), "Logs"))
	q("hardwareuuid", v.UUID)
	n("memory", set("memory", "128"))
	q("pagefusion", "off")
	n("vram", "8")
	n("cpuexecutioncap", "100")
	q("hpet", set("hpet", "off"))
	q("cpu-profile", "host")
	q("chipset", "piix3")
	q("firmware", strings.ToUpper(set("firmware", "BIOS")))
	n("cpus", set("cpus", "1"))
	q("pae", set("pae", "off"))
	q("longmode", set("longmode", "on"))
	q("cpuid-portability-level", "0")
	q("bootmenu", set("biosbootmenu", "messageandmenu"))
	for i := 1; i <= 4; i++ {
		k := fmt.Sprintf("boot%d", i)
		q(k, set(k, "none"))
	}
	q("acpi", set("acpi", "on"))
	q("ioapic", set("ioapic", "on"))
	q("biosapic", "apic")
	n("biossystemtimeoffset", "0")
	q("rtcuseutc", set("rtcuseutc", "off"))
	q("hwvirtex", set("hwvirtex", "on"))
	q("nestedpaging", set("nestedpaging", "on"))
	q("largepages", set("largepages", "off"))
	q("vtxvpid", set("vtxvpid", "on"))
	q("vtxux", "on")
	q("accelerate3d", set("accelerate3d", "off"))
	q("VMState", v.stateOf())
	q("VMStateChangeTime", v.StateChangeTime)
	q("graphicscontrollertype", "vboxvga")
	q("monitorcount", "1")
	for i, c := range v.Storage {
		q(fmt.Sprintf("storagecontrollername%d", i), c.Name)
		q(fmt.Sprintf("storagecontrollertype%d", i), c.Type)
		q(fmt.Sprintf("storagecontrollerinstance%d", i), "0")
		q(fmt.Sprintf("storagecontrollermaxportcount%d", i), "30")
		q(fmt.Sprintf("storagecontrollerportcount%d", i), "30")
		q(fmt.Sprintf("storagecontrollerbootable%d", i), "on")
	}
	for _, c := range v.Storage {
		for _, slot := range attachmentSlots(c) {
			a := c.Attachments[slot]
			if a == nil {
				fmt.Fprintf(w, "\"%s-%s\"=\"none\"\n", c.Name, slot)
				continue
			}
			fmt.Fprintf(w, "\"%s-%s\"=\"%s\"\n", c.Name, slot, a.Medium)
			fmt.Fprintf(w, "\"%s-ImageUUID-%s\"=\"%s\"\n", c.Name, slot, imageUUID(v, a.Medium))
			if a.Type == "dvddrive" {
				fmt.Fprintf(w, "\"%s-tempeject-%s\"=\"off\"\n", c.Name, slot)
				fmt.Fprintf(w, "\"%s-IsEjected-%s\"=\"off\"\n", c.Name, slot)
			}
		}
	}
	for i := 1; i <= 8; i++ {
		nic := v.NICs[i]
		if nic == nil || nic.Type == "none" {
			q(fmt.Sprintf("nic%d", i), "none")
			continue
		}
		switch nic.Type {
		case "nat":
			q(fmt.Sprintf("natnet%d", i), "nat")
		case "hostonly":
			q(fmt.Sprintf("hostonlyadapter%d", i), nic.HostOnlyAdapter)
		}
		q(fmt.Sprintf("macaddress%d", i), nic.MAC)
		q(fmt.Sprintf("cableconnected%d", i), nic.Cable)
		q(fmt.Sprintf("nic%d", i), nic.Type)
		q(fmt.Sprintf("nictype%d", i), nic.NicType)
		q(fmt.Sprintf("nicspeed%d", i), "0")
		if nic.Type == "nat" {
			q("mtu", "0")
			q("sockSnd", "64")
			q("sockRcv", "64")
			q("tcpWndSnd", "64")
			q("tcpWndRcv", "64")
			for j, f := range nic.Forwards {
				q(fmt.Sprintf("Forwarding(%d)", j), fmt.Sprintf("%s,%s,%s,%d,%s,%d", f.Name, f.Proto, f.HostIP, f.HostPort, f.GuestIP, f.GuestPort))
			}
		}
	}
	q("hidsystem", "ps2kbd")
	q("audio", "none")
	q("clipboard", "disabled")
	q("draganddrop", "disabled")
	q("vrde", "off")
	q("usb", "off")
	for i, sh := range v.Shares {
		q(fmt.Sprintf("SharedFolderNameMachineMapping%d", i+1), sh.Name)
		q(fmt.Sprintf("SharedFolderPathMachineMapping%d", i+1), sh.HostPath)
	}
	q("videocap", "off")
	n("GuestMemoryBalloon", "0")
}

// attachmentSlots lists the ports shown for a controller: every used
// one, and port 2 when nothing uses it (VirtualBox shows a few empty).
func attachmentSlots(c *Controller) []string {
	slots := map[string]bool{"0-0": true, "1-0": true, "2-0": true}
	for k := range c.Attachments {
		slots[k] = true
	}
	out := make([]string, 0, len(slots))
	for k := range slots {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func imageUUID(v *VM, medium string) string {
	h := 0
	for _, b := range []byte(v.UUID + medium) {
		h = h*31 + int(b)
	}
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(h), uint64(h)&0xffffffffffff)
}
