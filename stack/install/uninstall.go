package install

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ibemu/ibemu/stack/host"
)

// findInstalled resolves an uninstall target (a ProductCode or the
// package file name) to the installed product.
func (r *run) findInstalled() error {
	if !r.h.OS().IsWindows() {
		return fmt.Errorf("install: %s: %w", r.h.OS(), ErrNotWindows)
	}
	t := strings.TrimSpace(r.req.Target)
	code := t
	if !strings.HasPrefix(t, "{") {
		p, err := FindPackage(t)
		if err != nil {
			return err
		}
		code = p.ProductCode
	}
	prod, err := r.h.Product(code)
	if err != nil {
		return fmt.Errorf("install: %s: %w", t, ErrNotInstalled)
	}
	p, err := FindProductCode(prod.Code)
	if err != nil {
		return err
	}
	r.pkg, r.rel, r.product = p, p.Release, prod
	r.res.Package, r.res.ProductCode, r.res.Features = p, prod.Code, prod.Features
	r.dir = prod.InstallDir
	if len(prod.Record) > 0 {
		if err := json.Unmarshal(prod.Record, &r.rec); err != nil {
			return fmt.Errorf("install: the record of %s is corrupt: %v: %w", prod.Name, err, ErrFailed)
		}
	}
	return nil
}

// uninstall carries out /x.
func (r *run) uninstall() error {
	if err := r.findInstalled(); err != nil {
		return err
	}
	if err := r.checkProperties(); err != nil {
		return err
	}
	if r.opts.LeaveFabricDevice && !r.rel.hasFabricDevice() {
		return fmt.Errorf("install: %s has no InfiniBand Fabric device to leave behind: %w", r.pkg.ProductName(), ErrBadCommandLine)
	}
	if err := r.execute(r.product.Name+" uninstall", r.uninstallSteps()); err != nil {
		return err
	}
	if len(r.res.Lingering) > 0 {
		r.warn("files in use were not deleted and linger: %s", strings.Join(r.res.Lingering, ", "))
	}
	r.res.RebootRequired = true
	r.logf("MSI (s): Product: %s -- Removal completed successfully.", r.product.Name)
	return r.restart()
}

func (r *run) uninstallSteps() []step {
	h := r.h
	keepDrivers := r.flag("NODRV")
	return []step{
		{"LaunchCondition", func() error { return nil }},
		{"StopServices", func() error {
			for _, s := range r.rec.Services {
				if err := h.StopService(s); err != nil && !errors.Is(err, host.ErrNotFound) {
					r.warn("stop %s: %v", s, err)
				}
			}
			return nil
		}},
		{"DeleteServices", func() error {
			for _, s := range r.rec.Services {
				if err := h.RemoveService(s); err != nil && !errors.Is(err, host.ErrNotFound) {
					return err
				}
			}
			return nil
		}},
		{"RemoveProviders", func() error {
			for _, p := range r.rec.Providers {
				if err := h.RemoveProvider(p.Kind, p.Name); err != nil && !errors.Is(err, host.ErrNotFound) {
					return err
				}
			}
			return nil
		}},
		{"RemoveDevices", func() error {
			if r.opts.LeaveFabricDevice {
				r.logf("MSI (s): removing the InfiniBand Fabric device failed silently")
				return nil
			}
			for _, id := range r.rec.Devices {
				if err := h.RemoveDevice(id); err != nil && !errors.Is(err, host.ErrNotFound) {
					return err
				}
			}
			return nil
		}},
		{"DriverUninstall", func() error {
			if keepDrivers {
				r.logf("MSI (s): NODRV=1: device drivers are left installed")
				return nil
			}
			return r.uninstallDrivers()
		}},
		{"RemoveFiles", func() error {
			files := slices.Clone(r.rec.Files)
			if tmp, err := h.Folder("Temp"); err == nil {
				for _, n := range []string{"osm.log", "osm.syslog", "opensm-subnet.lst"} {
					files = append(files, tmp+`\`+n)
				}
			}
			if r.rec.DatConf != "" {
				files = append(files, r.rec.DatConf)
			}
			for _, f := range files {
				if !h.Exists(f) {
					continue
				}
				if err := h.Remove(f); err != nil {
					if errors.Is(err, host.ErrInUse) {
						r.res.Lingering = append(r.res.Lingering, f)
						continue
					}
					return err
				}
			}
			return nil
		}},
		{"RemoveEnvironmentStrings", func() error {
			if r.rec.PathEntry == "" {
				return nil
			}
			return h.RemovePath(r.rec.PathEntry)
		}},
		{"RemoveFolders", func() error {
			dirs := slices.Clone(r.rec.Folders)
			sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
			for _, d := range dirs {
				if names, err := h.ReadDir(d); err == nil && len(names) == 0 {
					if err := h.Remove(d); err != nil {
						return err
					}
				}
			}
			return nil
		}},
		{"UnregisterProduct", func() error {
			if err := h.RemoveProduct(r.product.Code); err != nil {
				return err
			}
			return h.LogEvent(host.LevelInformation, "MsiInstaller", 11724, fmt.Sprintf("Product: %s -- Removal completed successfully.", r.product.Name))
		}},
		{"InstallFinalize", func() error { return nil }},
	}
}

// uninstallDrivers removes the product's driver packages, as DIFxApp's
// uninstall does. When the product was installed with NODRV=1, the
// release's drivers staged by other means (image provisioning) are
// removed too, as the release notes warn.
func (r *run) uninstallDrivers() error {
	h := r.h
	infs := slices.Clone(r.rec.Drivers)
	if r.rec.NoDrivers {
		for _, d := range r.rel.drivers {
			if _, err := h.DriverPackage(d.inf); err == nil && !slices.Contains(infs, d.inf) {
				infs = append(infs, d.inf)
			}
		}
	}
	for _, inf := range infs {
		if r.opts.LeaveFabricDevice && slices.ContainsFunc(r.rel.drivers, func(d driverSpec) bool { return d.root && d.inf == inf }) {
			continue
		}
		pkg, err := h.DriverPackage(inf)
		if err != nil {
			continue // already gone
		}
		err = h.RemoveDriverPackage(inf)
		if err != nil && !errors.Is(err, host.ErrInUse) {
			return err
		}
		for _, f := range pkg.Files {
			p, perr := driverDest(h, f)
			if perr == nil && h.Exists(p) && !sharedFile(h, f) {
				r.res.Lingering = append(r.res.Lingering, p)
			}
		}
		r.logf("MSI (s): DIFxApp: %s removed", inf)
	}
	return nil
}

// driverDest is where a driver file lives once installed.
func driverDest(h *host.Host, f host.DriverFile) (string, error) {
	var dir string
	var err error
	switch f.Dir {
	case host.DirDrivers:
		dir, err = h.Folder("Drivers")
	case host.DirSystem:
		dir, err = h.Folder("System32")
	case host.DirSystemWOW:
		dir, err = h.Folder("SysWOW64")
	default:
		err = fmt.Errorf("install: folder %q: %w", f.Dir, ErrFailed)
	}
	return dir + `\` + f.Name, err
}

// sharedFile reports whether a staged package still uses f.
func sharedFile(h *host.Host, f host.DriverFile) bool {
	for _, p := range h.DriverPackages() {
		for _, g := range p.Files {
			if strings.EqualFold(g.Name, f.Name) && g.Dir == f.Dir {
				return true
			}
		}
	}
	return false
}

// admin carries out /a: the package's files are extracted under
// TARGETDIR (PFiles\<folder>\..., System or System64 for system files),
// nothing is installed.
func (r *run) admin() error {
	if err := r.resolvePackage(r.req.Target); err != nil {
		return err
	}
	if err := r.checkProperties(); err != nil {
		return err
	}
	t, ok := r.req.Prop("TARGETDIR")
	if !ok {
		return fmt.Errorf("install: an administrative install needs TARGETDIR=<folder> (the property name is case-sensitive): %w", ErrBadCommandLine)
	}
	target := strings.TrimRight(r.h.ExpandEnv(t), `\`)
	if _, err := r.h.Path(target); err != nil {
		return fmt.Errorf("install: TARGETDIR=%s: %w: %w", t, ErrUnknownProperty, err)
	}
	if r.h.Exists(target) {
		return fmt.Errorf("install: TARGETDIR=%s: %s exists; the last folder of the path must not exist: %w", t, target, ErrTargetExists)
	}
	r.features = map[string]bool{}
	for _, f := range r.rel.Features {
		r.features[f.ID] = true
		r.res.Features = append(r.res.Features, f.ID)
	}
	r.dir = target + `\PFiles\` + r.rel.Folder
	return r.execute(r.pkg.ProductName()+" administrative install", r.adminSteps(target))
}

func (r *run) adminSteps(target string) []step {
	return []step{
		{"LaunchCondition", func() error { return nil }},
		{"CreateFolders", func() error { return r.ensureFolder(r.dir) }},
		{"ExtractFiles", func() error {
			files, content, err := r.productFiles(r.dir)
			if err != nil {
				return err
			}
			sys, _ := r.h.Folder("System32")
			wow, _ := r.h.Folder("SysWOW64")
			sm, _ := r.h.Folder("StartMenu")
			sysDir := target + `\System`
			if r.pkg.Arch.Is64() {
				sysDir = target + `\System64`
			}
			for _, p := range files {
				lp := strings.ToLower(p)
				dst := p
				switch {
				case strings.HasPrefix(lp, strings.ToLower(r.dir)+`\`):
				case wow != "" && strings.HasPrefix(lp, strings.ToLower(wow)+`\`):
					dst = target + `\System` + p[len(wow):]
				case strings.HasPrefix(lp, strings.ToLower(sys)+`\`):
					dst = sysDir + p[len(sys):]
				case strings.HasPrefix(lp, strings.ToLower(sm)+`\`):
					continue
				default:
					continue
				}
				if err := r.installFile(dst, content[p]); err != nil {
					return err
				}
			}
			return nil
		}},
		{"CopyPackage", func() error {
			return r.installFile(target+`\`+r.pkg.FileName, textContent(r.pkg, r.pkg.FileName, "administrative installation image of "+r.pkg.ProductName()))
		}},
		{"InstallFinalize", func() error { return nil }},
	}
}
