package host

import (
	"encoding/json"
	"fmt"
	"strings"
)

// OS is the operating system flavour a host runs.
type OS int

// Operating system flavours. The Windows ones are those WinOF 2.2.1
// ships packages for: Windows XP ("wxp" packages), Server 2003 ("wnet")
// and the Longhorn family, Vista, Server 2008 and HPC Server 2008
// ("wlh").
const (
	WindowsXP OS = iota + 1
	Server2003
	Vista
	Server2008
	HPCServer2008
	Linux
)

var osNames = []struct {
	os    OS
	key   string // JSON and command-line name
	title string
	alias []string
}{
	{WindowsXP, "xp", "Windows XP", []string{"winxp", "wxp", "windowsxp"}},
	{Server2003, "server2003", "Windows Server 2003", []string{"2003", "wnet", "win2003", "windowsserver2003"}},
	{Vista, "vista", "Windows Vista", []string{"windowsvista"}},
	{Server2008, "server2008", "Windows Server 2008", []string{"2008", "win2008", "windowsserver2008"}},
	{HPCServer2008, "hpc2008", "Windows HPC Server 2008", []string{"hpc", "hpcserver2008", "windowshpcserver2008"}},
	{Linux, "linux", "Linux", nil},
}

// ParseOS parses an OS name: "xp", "server2003", "vista", "server2008",
// "hpc2008" or "linux" (and a few spellings of each, any case).
func ParseOS(s string) (OS, error) {
	k := strings.ToLower(strings.NewReplacer(" ", "", "-", "", "_", "").Replace(s))
	for _, n := range osNames {
		if k == n.key || k == strings.ToLower(strings.ReplaceAll(n.title, " ", "")) {
			return n.os, nil
		}
		for _, a := range n.alias {
			if k == a {
				return n.os, nil
			}
		}
	}
	return 0, fmt.Errorf("host: unknown os %q (want xp, server2003, vista, server2008, hpc2008 or linux): %w", s, ErrBadConfig)
}

// Key is the short name ParseOS accepts and the state file stores.
func (o OS) Key() string {
	for _, n := range osNames {
		if n.os == o {
			return n.key
		}
	}
	return ""
}

// String is the product name ("Windows Server 2008").
func (o OS) String() string {
	for _, n := range osNames {
		if n.os == o {
			return n.title
		}
	}
	return fmt.Sprintf("OS(%d)", int(o))
}

// Valid reports whether o is one of the defined flavours.
func (o OS) Valid() bool { return o.Key() != "" }

// IsWindows reports whether o is a Windows flavour.
func (o OS) IsWindows() bool { return o.Valid() && o != Linux }

// VersionNT is the Windows Installer VersionNT property of the flavour
// (501 XP, 502 Server 2003, 600 Vista and Server 2008); 0 for Linux.
func (o OS) VersionNT() int {
	switch o {
	case WindowsXP:
		return 501
	case Server2003:
		return 502
	case Vista, Server2008, HPCServer2008:
		return 600
	}
	return 0
}

// IsServer reports whether o is a server edition (the Windows Installer
// MsiNTProductType is not 1).
func (o OS) IsServer() bool { return o == Server2003 || o == Server2008 || o == HPCServer2008 }

// HasDriverStore reports whether o keeps driver packages in
// %SystemRoot%\System32\DriverStore (Vista and later); XP and Server 2003
// copy INF files into %SystemRoot%\inf instead.
func (o OS) HasDriverStore() bool { return o.VersionNT() >= 600 }

// MarshalJSON stores the short name.
func (o OS) MarshalJSON() ([]byte, error) {
	if !o.Valid() {
		return nil, fmt.Errorf("host: marshal os %d: %w", int(o), ErrBadConfig)
	}
	return json.Marshal(o.Key())
}

// UnmarshalJSON reads the short name.
func (o *OS) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("host: os: %w", err)
	}
	v, err := ParseOS(s)
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// Arch is a processor architecture.
type Arch int

// Architectures WinOF builds for.
const (
	X86 Arch = iota + 1
	X64
	IA64
)

// ParseArch parses "x86", "x64" (or "amd64", "x86_64") and "ia64".
func ParseArch(s string) (Arch, error) {
	switch strings.ToLower(s) {
	case "x86", "i386", "386":
		return X86, nil
	case "x64", "amd64", "x86_64", "em64t":
		return X64, nil
	case "ia64", "itanium":
		return IA64, nil
	}
	return 0, fmt.Errorf("host: unknown architecture %q (want x86, x64 or ia64): %w", s, ErrBadConfig)
}

// String is the short name ("x86", "x64", "ia64").
func (a Arch) String() string {
	switch a {
	case X86:
		return "x86"
	case X64:
		return "x64"
	case IA64:
		return "ia64"
	}
	return fmt.Sprintf("Arch(%d)", int(a))
}

// Valid reports whether a is one of the defined architectures.
func (a Arch) Valid() bool { return a >= X86 && a <= IA64 }

// ProcessorArchitecture is the PROCESSOR_ARCHITECTURE environment value.
func (a Arch) ProcessorArchitecture() string {
	switch a {
	case X64:
		return "AMD64"
	case IA64:
		return "IA64"
	}
	return "x86"
}

// Is64 reports whether a is a 64-bit architecture (with a SysWOW64 folder
// for 32-bit programs).
func (a Arch) Is64() bool { return a == X64 || a == IA64 }

// MarshalJSON stores the short name.
func (a Arch) MarshalJSON() ([]byte, error) {
	if !a.Valid() {
		return nil, fmt.Errorf("host: marshal arch %d: %w", int(a), ErrBadConfig)
	}
	return json.Marshal(a.String())
}

// UnmarshalJSON reads the short name.
func (a *Arch) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("host: arch: %w", err)
	}
	v, err := ParseArch(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}
