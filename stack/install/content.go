package install

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/ibemu/ibemu/stack/host"
)

// The installed files are stand-ins: text that says what the file is,
// which release and build it belongs to and its file version, so tools
// (FileVersion, ibscan) and tests can tell files apart. INF files are
// real INF syntax with the [Version] section Windows reads.

// fileHeader is the first line of every emulated binary.
const fileHeader = "ibemu emulated file"

// binaryContent is the content of an emulated binary.
func binaryContent(p *Package, name string, checked bool) []byte {
	build := "free"
	if checked {
		build = "checked (DEBUG)"
	}
	return []byte(fmt.Sprintf("%s\r\nName: %s\r\nProduct: %s %s\r\nFileVersion: %s\r\nArchitecture: %s\r\nBuild: %s\r\n",
		fileHeader, name, p.Release.Product, p.Release.Version, p.Release.FileVersion(), p.Arch, build))
}

// infContent is the INF of driver d.
func infContent(p *Package, d *driverSpec) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "; %s - %s %s\r\n", d.desc, p.Release.Product, p.Release.Version)
	fmt.Fprintf(&b, "[Version]\r\nSignature=\"$Windows NT$\"\r\nClass=%s\r\nProvider=%%OFA%%\r\nDriverVer=%s,%s\r\nCatalogFile=%s\r\n\r\n",
		d.class, p.Release.Date, p.Release.FileVersion(), strings.TrimSuffix(d.inf, ".inf")+".cat")
	fmt.Fprintf(&b, "[Manufacturer]\r\n%%OFA%%=OFA,NT%s\r\n\r\n[OFA.NT%s]\r\n", infArch(p.Arch), infArch(p.Arch))
	for _, id := range d.hwids {
		fmt.Fprintf(&b, "%%DeviceDesc%%=%s.Install,%s\r\n", d.service, id)
	}
	fmt.Fprintf(&b, "\r\n[%s.Install.Services]\r\nAddService=%s,0x00000002,%s.ServiceInstall\r\n", d.service, d.service, d.service)
	fmt.Fprintf(&b, "\r\n[Strings]\r\nOFA=\"%s\"\r\nDeviceDesc=\"%s\"\r\n", Publisher, d.desc)
	return []byte(b.String())
}

func infArch(a host.Arch) string {
	switch a {
	case host.X64:
		return "amd64"
	case host.IA64:
		return "ia64"
	}
	return "x86"
}

// catContent is a driver catalog, signed by Publisher.
func catContent(p *Package, d *driverSpec) []byte {
	return []byte(fmt.Sprintf("%s\r\nName: %s\r\nSigner: %s\r\nWHQL: no\r\nProduct: %s %s\r\n",
		fileHeader, strings.TrimSuffix(d.inf, ".inf")+".cat", Publisher, p.Release.Product, p.Release.Version))
}

// datConf is the DAT/DAPL 2.0 provider list: one provider per line,
// eight fields (protocols.md §5.1). Library paths are unquoted, so single
// backslashes.
func datConf(h *host.Host, p *Package) []byte {
	sys := h.ExpandEnv(`%SystemRoot%\system32`)
	var b strings.Builder
	b.WriteString("#\r\n# DAT 2.0 (uDAPL) provider configuration - " + p.Release.Product + " " + p.Release.Version + "\r\n#\r\n")
	b.WriteString("# <ia_name> <api_version> <thread_safety> <default> <dapl_library> <provider_version> <ia_params> <platform_params>\r\n#\r\n")
	b.WriteString("# IBAL (InfiniBand Access Layer) provider\r\n")
	for i := 0; i < 2; i++ {
		fmt.Fprintf(&b, "ibnic%dv2 u2.0 nonthreadsafe default %s\\dapl2.dll ri.2.0 \"IbalHca%d 1\" \"\"\r\n", i, sys, i)
	}
	b.WriteString("# socket-CM provider (QP information exchanged over a socket)\r\n")
	fmt.Fprintf(&b, "ibnic0v2-scm u2.0 nonthreadsafe default %s\\dapl2-ofa-scm.dll ri.2.0 \"ibv_device0 1\" \"\"\r\n", sys)
	b.WriteString("# RDMA-CM provider\r\n")
	fmt.Fprintf(&b, "ibnic0v2-cma u2.0 nonthreadsafe default %s\\dapl2-ofa-cma.dll ri.2.0 \"rdma_dev0 1\" \"\"\r\n", sys)
	return []byte(b.String())
}

// aboutContent is the release information "About WinOF" shows.
func aboutContent(p *Package) []byte {
	r := p.Release
	return []byte(fmt.Sprintf("Windows OpenFabrics (%s)\r\n\r\n    %s version %s\r\n    File version %s\r\n    OpenSM %s\r\n    DAPL 2.0\r\n\r\n    Release built from svn revision %d for %s %s.\r\n",
		r.Product, r.Product, r.Version, r.FileVersion(), r.OpenSMVersion, r.SVN, p.Flavour, p.Arch))
}

// textContent is the content of documents, scripts and shortcuts.
func textContent(p *Package, name, what string) []byte {
	return []byte(fmt.Sprintf("%s\r\nName: %s\r\nProduct: %s %s\r\nFileVersion: %s\r\nContent: %s\r\n",
		fileHeader, name, p.Release.Product, p.Release.Version, p.Release.FileVersion(), what))
}

// parseFields reads the "Key: value" lines of an emulated file.
func parseFields(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	first := true
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if first {
			first = false
			if line != fileHeader {
				return nil
			}
			continue
		}
		if k, v, ok := strings.Cut(line, ": "); ok {
			out[k] = v
		}
	}
	return out
}

// FileVersion reads the file version of an installed file, as Explorer's
// tool tip shows it (major.minor.point.svn; "(DEBUG)" marks checked
// builds).
func FileVersion(h *host.Host, path string) (string, error) {
	b, err := h.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("install: file version: %w", err)
	}
	f := parseFields(b)
	if f == nil || f["FileVersion"] == "" {
		return "", fmt.Errorf("install: file version of %s: no version resource: %w", path, ErrPackage)
	}
	v := f["FileVersion"]
	if strings.HasPrefix(f["Build"], "checked") {
		v += " (DEBUG)"
	}
	return v, nil
}
