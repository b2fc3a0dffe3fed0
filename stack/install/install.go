package install

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/ibemu/ibemu/stack/host"
)

// Answer is the user's answer to Windows' prompt before it installs a
// driver that is signed but not WHQL-certified.
type Answer int

// Answers.
const (
	// AnswerInstall installs the driver this once.
	AnswerInstall Answer = iota
	// AnswerAlwaysTrust installs it and puts the publisher's certificate
	// into the Trusted Publishers store ("Always trust software from
	// ...").
	AnswerAlwaysTrust
	// AnswerDontInstall declines; the install fails and rolls back.
	AnswerDontInstall
)

// Question is the driver-signing prompt.
type Question struct {
	// Publisher signed the drivers; Drivers names them.
	Publisher string
	Drivers   []string
}

// Options control a run beyond what the command line says.
type Options struct {
	// Prompt answers the driver-signing prompt of an interactive
	// install. nil answers AnswerInstall, as the release notes tell the
	// user to.
	Prompt func(Question) Answer
	// Fault, when set, is called before each step with its number (from
	// 1) and name. Returning ErrKilled makes the installer die there, as
	// a killed process would: nothing is rolled back and the host must
	// not be used again; the next host.Open rolls the changes back. Any
	// other error fails the step, and the install rolls back at once.
	Fault func(step int, name string) error
	// LeaveFabricDevice makes an uninstall silently fail to remove the
	// "InfiniBand Fabric" device and its bus driver (releases that have
	// one), reporting success anyway.
	LeaveFabricDevice bool
	// Log, when set, receives every log line as it is written.
	Log io.Writer
}

// Result is what a run did.
type Result struct {
	Action  Action
	Package *Package
	// ProductCode is the product installed or removed.
	ProductCode string
	// Features are the features installed (or those of the product
	// removed).
	Features []string
	// Steps are the steps run, in order.
	Steps []string
	// ExitCode is msiexec's: 0, 3010 (a reboot is needed) or 1641 (the
	// installer rebooted the host).
	ExitCode int
	// RebootRequired is set when the change needs a restart; Rebooted
	// when the installer restarted the host (/forcerestart).
	RebootRequired, Rebooted bool
	// Lingering lists files an uninstall could not delete (held open by
	// an online SRP disk).
	Lingering []string
	// Warnings are non-fatal problems (firmware below optimal, lingering
	// files, drivers taken from a leftover driver store folder).
	Warnings []string
	// Log is the msiexec log.
	Log []string
}

// record is what an install put where, kept in the product entry so the
// uninstall removes exactly that.
type record struct {
	Files     []string        `json:"files"`
	Folders   []string        `json:"folders"`
	Drivers   []string        `json:"drivers,omitempty"`
	Devices   []string        `json:"devices,omitempty"`
	Services  []string        `json:"services,omitempty"`
	Providers []host.Provider `json:"providers,omitempty"`
	PathEntry string          `json:"path_entry,omitempty"`
	DatConf   string          `json:"dat_conf,omitempty"`
	NoDrivers bool            `json:"no_drivers,omitempty"`
}

// run is one msiexec invocation.
type run struct {
	h        *host.Host
	req      Request
	opts     Options
	pkg      *Package
	rel      *Release
	features map[string]bool
	nodrv    bool
	dir      string // install folder
	rec      record
	res      *Result
	product  host.Product
	tx       *host.Tx
}

type step struct {
	name string
	fn   func() error
}

// Run carries out an msiexec request on host h: an install (/i), an
// administrative install (/a) or an uninstall (/x). A request that
// cannot be carried out (bad property, unknown feature, wrong platform,
// product not installed) fails before anything changes. Once the
// changes start they run in a host transaction: a failing step rolls
// every change back, so the host is byte for byte as it was. The log
// goes to req.LogFile (a host path) after the outcome is known.
func Run(h *host.Host, req Request, opts Options) (*Result, error) {
	r := &run{h: h, req: req, opts: opts, res: &Result{Action: req.Action}}
	r.logf("=== Logging started: %s  Command line: %s ===", h.Now().Format("1/2/2006  15:04:05"), req.String())
	if req.LogFile != "" {
		if _, err := h.Path(req.LogFile); err != nil {
			return r.res, fmt.Errorf("install: log file %s: %w: %w", req.LogFile, ErrBadCommandLine, err)
		}
	}
	var err error
	switch req.Action {
	case ActionInstall:
		err = r.install()
	case ActionUninstall:
		err = r.uninstall()
	case ActionAdmin:
		err = r.admin()
	default:
		err = fmt.Errorf("install: no action: %w", ErrBadCommandLine)
	}
	code := ExitCode(err)
	if err == nil {
		code = r.res.ExitCode
	}
	if err != nil {
		r.logf("MSI (s): %v", err)
	}
	r.logf("MSI (s): MainEngineThread is returning %d", code)
	r.logf("=== Logging stopped: %s ===", h.Now().Format("1/2/2006  15:04:05"))
	if req.LogFile != "" && !errors.Is(err, ErrKilled) {
		if werr := h.WriteFile(req.LogFile, []byte(strings.Join(r.res.Log, "\r\n")+"\r\n")); werr != nil && err == nil {
			err = fmt.Errorf("install: write log: %w", werr)
		}
	}
	return r.res, err
}

func (r *run) logf(format string, a ...any) {
	line := fmt.Sprintf(format, a...)
	r.res.Log = append(r.res.Log, line)
	if r.opts.Log != nil {
		fmt.Fprintln(r.opts.Log, line)
	}
}

func (r *run) warn(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	r.res.Warnings = append(r.res.Warnings, msg)
	r.logf("MSI (s): Warning: %s", msg)
}

// execute runs steps in a transaction named name.
func (r *run) execute(name string, steps []step) error {
	tx, err := r.h.Begin(name)
	if err != nil {
		if errors.Is(err, host.ErrBusy) {
			return fmt.Errorf("install: %w: %w", ErrBusy, err)
		}
		return fmt.Errorf("install: %w", err)
	}
	r.tx = tx
	for i, s := range steps {
		n := i + 1
		r.res.Steps = append(r.res.Steps, s.name)
		r.logf("Action start %s: %s.", r.h.Now().Format("15:04:05"), s.name)
		var err error
		if r.opts.Fault != nil {
			err = r.opts.Fault(n, s.name)
			if errors.Is(err, ErrKilled) {
				tx.Abandon()
				r.logf("MSI (s): the installer process died during %s", s.name)
				return &StepError{N: n, Name: s.name, Err: err}
			}
		}
		if err == nil {
			err = s.fn()
		}
		if err != nil {
			r.logf("Action ended %s: %s. Return value 3.", r.h.Now().Format("15:04:05"), s.name)
			r.logf("MSI (s): rolling back the changes of %s", name)
			if rerr := tx.Rollback(); rerr != nil {
				return errors.Join(&StepError{N: n, Name: s.name, Err: err}, rerr)
			}
			if !errors.Is(err, ErrUntrusted) && !errors.Is(err, ErrDriverInstall) {
				err = fmt.Errorf("%w: %w", ErrFailed, err)
			}
			return &StepError{N: n, Name: s.name, Err: err}
		}
		r.logf("Action ended %s: %s. Return value 1.", r.h.Now().Format("15:04:05"), s.name)
	}
	if err := tx.Commit(); err != nil {
		return &StepError{N: len(steps), Name: "InstallFinalize", Err: fmt.Errorf("%w: %w", ErrFailed, err)}
	}
	return nil
}

// Properties each action accepts.
var properties = map[Action][]string{
	ActionInstall:   {"ADDLOCAL", "REMOVE", "NODRV", "OSMS", "SRP", "VNIC", "INSTALLDIR", "REBOOT"},
	ActionUninstall: {"NODRV", "REBOOT"},
	ActionAdmin:     {"TARGETDIR", "REBOOT"},
}

// checkProperties rejects properties the action does not define and bad
// values. Property names are case-sensitive (TARGETDIR is not targetdir).
func (r *run) checkProperties() error {
	allowed := properties[r.req.Action]
	for _, p := range r.req.Properties {
		if slices.Contains(allowed, p.Name) {
			switch p.Name {
			case "NODRV", "OSMS", "SRP", "VNIC":
				if p.Value != "0" && p.Value != "1" {
					return fmt.Errorf("install: property %s=%q: want 0 or 1: %w", p.Name, p.Value, ErrUnknownProperty)
				}
			case "REBOOT":
				switch strings.ToUpper(p.Value) {
				case "F", "FORCE", "S", "SUPPRESS", "R", "REALLYSUPPRESS":
				default:
					return fmt.Errorf("install: property REBOOT=%q: want Force, Suppress or ReallySuppress: %w", p.Value, ErrUnknownProperty)
				}
			case "INSTALLDIR", "TARGETDIR":
				if p.Value == "" {
					return fmt.Errorf("install: property %s is empty: %w", p.Name, ErrUnknownProperty)
				}
			}
			continue
		}
		hint := ""
		for _, a := range properties {
			for _, name := range a {
				if strings.EqualFold(name, p.Name) {
					hint = fmt.Sprintf(" (property names are case-sensitive: did you mean %s?)", name)
					if !slices.Contains(allowed, name) {
						hint = fmt.Sprintf(" (%s is not a property of an %s)", name, r.req.Action)
					}
				}
			}
		}
		return fmt.Errorf("install: unknown property %q for an %s%s; known: %s: %w",
			p.Name, r.req.Action, hint, strings.Join(allowed, ", "), ErrUnknownProperty)
	}
	return nil
}

func (r *run) flag(name string) bool {
	v, _ := r.req.Prop(name)
	return v == "1"
}

// restart decides the reboot after a successful change.
func (r *run) restart() error {
	required := r.res.RebootRequired || r.h.RebootPending()
	r.res.RebootRequired = required
	mode := r.req.Restart
	if v, ok := r.req.Prop("REBOOT"); ok {
		switch strings.ToUpper(v)[:1] {
		case "F":
			mode = RestartForce
		case "R", "S":
			if mode != RestartForce {
				mode = RestartNever
			}
		}
	}
	switch {
	case mode == RestartForce:
		r.logf("MSI (s): restarting the system")
		if err := r.h.Reboot(); err != nil {
			return fmt.Errorf("install: reboot: %w", err)
		}
		r.res.Rebooted, r.res.ExitCode = true, 1641
	case required:
		r.res.ExitCode = 3010
	}
	return nil
}

// resolvePackage finds the package and checks it fits the host.
func (r *run) resolvePackage(target string) error {
	if !r.h.OS().IsWindows() {
		return fmt.Errorf("install: %s: %w", r.h.OS(), ErrNotWindows)
	}
	p, err := FindPackage(target)
	if err != nil {
		return err
	}
	r.pkg, r.rel = p, p.Release
	r.res.Package, r.res.ProductCode = p, p.ProductCode
	return nil
}

func (r *run) checkPlatform() error {
	p := r.pkg
	if !p.Installs(r.h.OS()) || p.Arch != r.h.Arch() {
		var want []string
		for _, o := range []host.OS{host.WindowsXP, host.Server2003, host.Vista, host.Server2008, host.HPCServer2008} {
			if p.Installs(o) {
				want = append(want, o.String())
			}
		}
		return fmt.Errorf("install: %s installs on %s %s only; this host runs %s %s: %w",
			p.FileName, strings.Join(want, ", "), p.Arch, r.h.OS(), r.h.Arch(), ErrWrongPlatform)
	}
	return nil
}

// resolveFeatures computes the feature set from defaults and properties.
func (r *run) resolveFeatures() error {
	o := r.h.OS()
	sel := map[string]bool{}
	check := func(id string) (*Feature, error) {
		f, ok := r.rel.Feature(id)
		if !ok {
			hint := ""
			for _, g := range r.rel.Features {
				if strings.EqualFold(g.ID, id) {
					hint = fmt.Sprintf(" (feature names are case-sensitive: did you mean %s?)", g.ID)
				}
			}
			var ids []string
			for _, g := range r.rel.Features {
				ids = append(ids, g.ID)
			}
			return nil, fmt.Errorf("install: unknown feature %q%s; %s %s has %s: %w", id, hint, r.rel.Product, r.rel.Version, strings.Join(ids, ", "), ErrUnknownFeature)
		}
		if !f.availableOn(o) {
			return nil, fmt.Errorf("install: feature %s (%s) is not available on %s: %w", f.ID, f.Title, o, ErrUnknownFeature)
		}
		return f, nil
	}
	list := func(v string) []string {
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	if v, ok := r.req.Prop("ADDLOCAL"); ok {
		if strings.EqualFold(v, "ALL") {
			for _, f := range r.rel.Features {
				if f.availableOn(o) {
					sel[f.ID] = true
				}
			}
		} else {
			for _, id := range list(v) {
				if _, err := check(id); err != nil {
					return err
				}
				sel[id] = true
			}
		}
	} else {
		for _, f := range r.rel.Features {
			if f.Default && f.availableOn(o) {
				sel[f.ID] = true
			}
		}
	}
	for prop, id := range map[string]string{"OSMS": FeatureOpenSMStarted, "SRP": FeatureSRP, "VNIC": FeatureVNIC} {
		if v, ok := r.req.Prop(prop); ok {
			if _, err := check(id); err != nil {
				return fmt.Errorf("install: %s=%s: %w", prop, v, err)
			}
			sel[id] = v == "1"
		}
	}
	if v, ok := r.req.Prop("REMOVE"); ok {
		for _, id := range list(v) {
			f, err := check(id)
			if err != nil {
				return err
			}
			if f.Required {
				return fmt.Errorf("install: REMOVE=%s: %s cannot be left out: %w", v, id, ErrUnknownFeature)
			}
			delete(sel, id)
		}
	}
	for _, f := range r.rel.Features {
		if f.Required {
			sel[f.ID] = true
		}
	}
	for id, on := range sel {
		if !on {
			delete(sel, id)
			continue
		}
		f, _ := r.rel.Feature(id)
		for _, n := range f.Needs {
			if !sel[n] {
				return fmt.Errorf("install: feature %s needs %s, which is not selected: %w", id, n, ErrUnknownFeature)
			}
		}
	}
	r.features = sel
	for _, f := range r.rel.Features {
		if sel[f.ID] {
			r.res.Features = append(r.res.Features, f.ID)
		}
	}
	return nil
}

// drivers are the driver specs of the selected features.
func (r *run) drivers() []*driverSpec {
	var out []*driverSpec
	for i := range r.rel.drivers {
		d := &r.rel.drivers[i]
		if r.features[d.feature] {
			out = append(out, d)
		}
	}
	// VNIC needs the I/O unit driver too.
	if r.features[FeatureVNIC] && !r.features[FeatureSRP] {
		for i := range r.rel.drivers {
			if r.rel.drivers[i].inf == "ib_iou.inf" {
				out = append(out, &r.rel.drivers[i])
			}
		}
	}
	return out
}

// installFile writes one file and records it.
func (r *run) installFile(path string, data []byte) error {
	if err := r.ensureFolder(path[:strings.LastIndex(path, `\`)]); err != nil {
		return err
	}
	if err := r.h.WriteFile(path, data); err != nil {
		return err
	}
	if !slices.ContainsFunc(r.rec.Files, func(f string) bool { return strings.EqualFold(f, path) }) {
		r.rec.Files = append(r.rec.Files, path)
	}
	return nil
}

// ensureFolder creates a folder and records the ones it created.
func (r *run) ensureFolder(dir string) error {
	var missing []string
	for d := dir; len(d) > 3 && !r.h.Exists(d); d = d[:strings.LastIndex(d, `\`)] {
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := r.h.MkdirAll(missing[i]); err != nil {
			return err
		}
		r.rec.Folders = append(r.rec.Folders, missing[i])
	}
	return nil
}

// productFiles lists the files a feature set puts in the install folder,
// the system folders and the Start menu, with their content.
func (r *run) productFiles(dir string) ([]string, map[string][]byte, error) {
	p, h := r.pkg, r.h
	var order []string
	content := map[string][]byte{}
	add := func(path string, data []byte) {
		if _, dup := content[path]; !dup {
			order = append(order, path)
		}
		content[path] = data
	}
	f := r.features
	if f[FeatureIBCore] {
		for _, t := range r.rel.tools {
			add(dir+`\`+t, binaryContent(p, t, false))
		}
		add(dir+`\Release_notes.htm`, textContent(p, "Release_notes.htm", "release notes"))
		add(dir+`\WinOF_Manual.htm`, textContent(p, "WinOF_Manual.htm", "user's manual"))
		add(dir+`\License.rtf`, textContent(p, "License.rtf", "license"))
		add(dir+`\about-`+r.rel.Product+`.txt`, aboutContent(p))
		if p.Flavour == "wlh" {
			for _, s := range []string{"cert-add.bat", "rem-cert-ADD.bat", "OFA-cert-install.bat", "WinOF-install.bat", "readme-HPC.txt"} {
				add(dir+`\HPC\`+s, textContent(p, s, "HPC provisioning script"))
			}
		}
		for _, l := range []string{"libibverbs.dll", "libibumad.dll", "libibmad.dll"} {
			r.systemLib(add, l, false)
		}
	}
	if f[FeatureDAPL] {
		for _, t := range []string{"dapl2test.exe", "dtest2.exe", "dtestx.exe"} {
			add(dir+`\`+t, binaryContent(p, t, false))
		}
		for _, s := range []string{"dt-svr.bat", "dt-cli.bat"} {
			add(dir+`\`+s, textContent(p, s, "dapltest script"))
		}
		add(dir+`\dat.conf`, datConf(h, p))
		for _, l := range []string{"dat2.dll", "dapl2.dll", "dapl2-ofa-scm.dll", "dapl2-ofa-cma.dll"} {
			r.systemLib(add, l, false)
		}
	}
	if f[FeatureWSD] {
		add(dir+`\installsp.exe`, binaryContent(p, "installsp.exe", false))
		r.systemLib(add, "ibwsd.dll", false)
	}
	if f[FeatureND] {
		add(dir+`\ndinstall.exe`, binaryContent(p, "ndinstall.exe", false))
		r.systemLib(add, "ibndprov.dll", false)
	}
	if f[FeatureVNIC] {
		add(dir+`\qlgcvnic_config.exe`, binaryContent(p, "qlgcvnic_config.exe", false))
	}
	for _, d := range r.drivers() {
		src := dir + `\Drivers\` + d.folder
		add(src+`\`+d.inf, infContent(p, d))
		add(src+`\`+strings.TrimSuffix(d.inf, ".inf")+".cat", catContent(p, d))
		for _, df := range r.driverFiles(d) {
			add(src+`\`+df.Name, binaryContent(p, df.Name, false))
		}
		if f[FeatureChecked] {
			for _, df := range r.driverFiles(d) {
				add(dir+`\Checked\`+d.folder+`\`+df.Name, binaryContent(p, df.Name, true))
			}
		}
	}
	if f[FeatureChecked] {
		for _, l := range []string{"ibal.dll", "complib.dll", "dat2.dll", "dapl2.dll", "opensm.exe", "vstat.exe"} {
			add(dir+`\Checked\user\`+l, binaryContent(p, l, true))
		}
	}
	if f[FeatureIBCore] {
		sm, err := h.Folder("StartMenu")
		if err != nil {
			return nil, nil, err
		}
		sm += `\Windows OpenFabrics`
		add(sm+`\`+r.rel.Product+` Command Window.lnk`, textContent(p, "Command Window.lnk", `%ComSpec% /k cd /d "`+dir+`"`))
		add(sm+`\Release Notes.lnk`, textContent(p, "Release Notes.lnk", dir+`\Release_notes.htm`))
		add(sm+`\`+r.rel.Product+` Manual.lnk`, textContent(p, "Manual.lnk", dir+`\WinOF_Manual.htm`))
		add(sm+`\About `+r.rel.Product+`.lnk`, textContent(p, "About.lnk", dir+`\about-`+r.rel.Product+`.txt`))
		add(sm+`\Uninstall `+r.rel.Product+` `+r.rel.Version+`.lnk`, textContent(p, "Uninstall.lnk", "msiexec.exe /x "+p.ProductCode))
	}
	return order, content, nil
}

// systemLib adds a user-mode library to System32, and its 32-bit copy to
// SysWOW64 on 64-bit hosts.
func (r *run) systemLib(add func(string, []byte), name string, checked bool) {
	sys, _ := r.h.Folder("System32")
	add(sys+`\`+name, binaryContent(r.pkg, name, checked))
	if r.pkg.Arch.Is64() {
		if wow, err := r.h.Folder("SysWOW64"); err == nil {
			add(wow+`\`+name, binaryContent(r.pkg, name, checked))
		}
	}
}

// driverFiles are the files of d for the package's architecture, each
// name once (the source folder holds one copy).
func (r *run) driverFiles(d *driverSpec) []host.DriverFile {
	var out []host.DriverFile
	seen := map[string]bool{}
	for _, f := range stagedFiles(r.pkg.Arch, d) {
		if !seen[f.Name] {
			out = append(out, f)
		}
		seen[f.Name] = true
	}
	return out
}

// stagedFiles are the files of d as the driver package lists them for
// architecture a: no SysWOW64 copies on 32-bit systems.
func stagedFiles(a host.Arch, d *driverSpec) []host.DriverFile {
	var out []host.DriverFile
	for _, f := range d.files {
		if f.Dir == host.DirSystemWOW && !a.Is64() {
			continue
		}
		out = append(out, f)
	}
	return out
}

// driverPackage is the host's view of spec d.
func (r *run) driverPackage(d *driverSpec) host.DriverPackage {
	return driverPackageOf(r.pkg, d, stagedFiles(r.pkg.Arch, d), r.pkg.ProductCode)
}

func driverPackageOf(p *Package, d *driverSpec, files []host.DriverFile, product string) host.DriverPackage {
	return host.DriverPackage{
		INF: d.inf, Provider: Publisher, Description: d.desc, Class: d.class,
		Date: p.Release.Date, Version: p.Release.FileVersion(), Signer: Publisher,
		HardwareIDs: slices.Clone(d.hwids), Service: d.service, ServiceBinary: files[0].Name, StartMode: d.start,
		Files: files, Children: slices.Clone(d.children), Firmware: slices.Clone(d.firmware), Product: product,
	}
}

// fabricDevice finds an "InfiniBand Fabric" device on the host.
func fabricDevice(h *host.Host) (host.Device, bool) {
	for _, d := range h.Devices() {
		if strings.EqualFold(d.Description, "InfiniBand Fabric") {
			return d, true
		}
		for _, id := range d.HardwareIDs {
			if strings.EqualFold(id, `root\ibbus`) {
				return d, true
			}
		}
	}
	return host.Device{}, false
}

// install carries out /i.
func (r *run) install() error {
	if err := r.resolvePackage(r.req.Target); err != nil {
		return err
	}
	if err := r.checkProperties(); err != nil {
		return err
	}
	if err := r.checkPlatform(); err != nil {
		return err
	}
	for _, prod := range r.h.Products() {
		if prod.UpgradeCode == r.pkg.UpgradeCode {
			if strings.EqualFold(prod.Code, r.pkg.ProductCode) {
				return fmt.Errorf("install: %s is already installed: %w", prod.Name, ErrOtherVersion)
			}
			return fmt.Errorf("install: %s is installed; uninstall it and reboot before installing %s: %w", prod.Name, r.pkg.ProductName(), ErrOtherVersion)
		}
	}
	if err := r.resolveFeatures(); err != nil {
		return err
	}
	r.nodrv = r.flag("NODRV")
	r.dir = r.h.ExpandEnv(`%ProgramFiles%\` + r.rel.Folder)
	if v, ok := r.req.Prop("INSTALLDIR"); ok {
		r.dir = strings.TrimRight(r.h.ExpandEnv(v), `\`)
		if _, err := r.h.Path(r.dir); err != nil {
			return fmt.Errorf("install: INSTALLDIR=%s: %w: %w", v, ErrUnknownProperty, err)
		}
	}
	r.rec.NoDrivers = r.nodrv
	for _, pr := range r.req.Properties {
		r.logf("Property(C): %s = %s", pr.Name, pr.Value)
	}
	r.logf("MSI (s): features: %s", strings.Join(r.res.Features, ", "))
	steps := r.installSteps()
	if err := r.execute(r.pkg.ProductName()+" install", steps); err != nil {
		return err
	}
	r.logf("MSI (s): Product: %s -- Installation completed successfully.", r.pkg.ProductName())
	return r.restart()
}

// Plan lists the steps req would run on h, without running them (for
// tests that inject faults at every step).
func Plan(h *host.Host, req Request) ([]string, error) {
	r := &run{h: h, req: req, res: &Result{}}
	var steps []step
	switch req.Action {
	case ActionInstall:
		if err := r.resolvePackage(req.Target); err != nil {
			return nil, err
		}
		if err := r.resolveFeatures(); err != nil {
			return nil, err
		}
		r.nodrv = r.flag("NODRV")
		steps = r.installSteps()
	case ActionUninstall:
		if err := r.findInstalled(); err != nil {
			return nil, err
		}
		steps = r.uninstallSteps()
	case ActionAdmin:
		if err := r.resolvePackage(req.Target); err != nil {
			return nil, err
		}
		steps = r.adminSteps("")
	}
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.name
	}
	return out, nil
}

func (r *run) installSteps() []step {
	h, f := r.h, r.features
	var files []string
	var content map[string][]byte
	steps := []step{
		{"LaunchCondition", func() error { return r.checkPlatform() }},
		{"InstallFiles", func() error {
			var err error
			files, content, err = r.productFiles(r.dir)
			if err != nil {
				return err
			}
			for _, p := range files {
				if strings.HasPrefix(strings.ToLower(p), strings.ToLower(r.dir)+`\`) {
					if err := r.installFile(p, content[p]); err != nil {
						return err
					}
				}
			}
			return nil
		}},
		{"InstallSystemFiles", func() error {
			for _, p := range files {
				if !strings.HasPrefix(strings.ToLower(p), strings.ToLower(r.dir)+`\`) {
					if err := r.installFile(p, content[p]); err != nil {
						return err
					}
				}
			}
			return nil
		}},
	}
	if f[FeatureDAPL] {
		steps = append(steps, step{"WriteDatConf", func() error {
			dat, _ := h.Folder("DAT")
			conf := dat + `\dat.conf`
			if h.Exists(conf) {
				r.logf("MSI (s): %s exists; the dat.conf template is not installed", conf)
				return nil
			}
			if err := r.installFile(conf, datConf(h, r.pkg)); err != nil {
				return err
			}
			r.rec.DatConf = conf
			return nil
		}})
	}
	steps = append(steps,
		step{"WriteEnvironmentStrings", func() error {
			if h.InPath(r.dir) {
				return nil
			}
			r.rec.PathEntry = r.dir
			return h.AppendPath(r.dir)
		}},
		step{"InstallServices", func() error {
			r.rec.Services = append(r.rec.Services, "OpenSM")
			return h.AddService(host.Service{
				Name: "OpenSM", DisplayName: "InfiniBand Subnet Manager", Description: "InfiniBand Subnet Configuration and Management",
				Kind: host.KindProcess, StartMode: host.StartDisabled, ImagePath: r.dir + `\opensm.exe`, Args: "-e --service",
				Product: r.pkg.ProductCode,
			})
		}},
	)
	if !r.nodrv {
		for _, group := range []struct{ name, feature string }{
			{"DriverInstall - HCA", FeatureIBCore}, {"DriverInstall - IPoIB", FeatureIPoIB},
			{"DriverInstall - SRP", FeatureSRP}, {"DriverInstall - VNIC", FeatureVNIC},
		} {
			if !f[group.feature] {
				continue
			}
			g := group
			steps = append(steps, step{g.name, func() error { return r.installDrivers(g.name, g.feature) }})
		}
		steps = append(steps, step{"InstallDevices", r.installDevices})
		if f[FeatureWSD] {
			steps = append(steps, step{"InstallWinsockDirect", func() error {
				sys, _ := h.Folder("System32")
				p := host.Provider{Kind: host.ProviderWSD, Name: "OpenFabrics Winsock Direct for InfiniBand", Path: sys + `\ibwsd.dll`, Product: r.pkg.ProductCode}
				r.rec.Providers = append(r.rec.Providers, p)
				return h.AddProvider(p)
			}})
		}
		if f[FeatureND] {
			steps = append(steps, step{"InstallNetworkDirect", func() error {
				sys, _ := h.Folder("System32")
				p := host.Provider{Kind: host.ProviderND, Name: "OpenFabrics Network Direct Provider", Path: sys + `\ibndprov.dll`, Product: r.pkg.ProductCode}
				r.rec.Providers = append(r.rec.Providers, p)
				return h.AddProvider(p)
			}})
		}
	}
	if f[FeatureOpenSMStarted] {
		steps = append(steps, step{"StartServices", func() error {
			if err := h.SetStartMode("OpenSM", host.StartAuto); err != nil {
				return err
			}
			return h.StartService("OpenSM")
		}})
	}
	steps = append(steps,
		step{"RegisterProduct", r.registerProduct},
		step{"InstallFinalize", func() error { return nil }},
	)
	return steps
}

// installDrivers stages the driver packages of feature, after the
// driver-signing check, as DIFxApp does.
func (r *run) installDrivers(name, feature string) error {
	h := r.h
	var specs []*driverSpec
	for _, d := range r.drivers() {
		if d.feature == feature || (feature == FeatureVNIC && d.inf == "ib_iou.inf" && !r.features[FeatureSRP]) {
			specs = append(specs, d)
		}
	}
	if feature == FeatureIBCore {
		if !r.rel.hasFabricDevice() {
			if d, ok := fabricDevice(h); ok {
				return fmt.Errorf("install: DriverInstall - HCA Ret 2 Error 0 (a device %q, %s, from an earlier install is still present; uninstall it in Device Manager and reboot): %w",
					d.Description, d.InstanceID, ErrDriverInstall)
			}
		}
		if !h.Trusts(Publisher) {
			var infs []string
			for _, d := range r.drivers() {
				infs = append(infs, d.inf)
			}
			if r.req.Unattended() {
				return fmt.Errorf("install: %s: the drivers are signed by %s but not WHQL-certified and the publisher is not in the Trusted Publishers store; an unattended install cannot answer the driver installation prompt: %w",
					name, Publisher, ErrUntrusted)
			}
			ans := AnswerInstall
			if r.opts.Prompt != nil {
				ans = r.opts.Prompt(Question{Publisher: Publisher, Drivers: infs})
			}
			switch ans {
			case AnswerDontInstall:
				return fmt.Errorf("install: %s: the user declined the drivers of %s: %w", name, Publisher, ErrUntrusted)
			case AnswerAlwaysTrust:
				if err := TrustPublisher(h); err != nil {
					return err
				}
			}
		}
	}
	for _, d := range specs {
		if slices.Contains(r.rec.Drivers, d.inf) {
			continue
		}
		src := r.dir + `\Drivers\` + d.folder
		got, err := h.AddDriverPackage(r.driverPackage(d), src)
		if err != nil {
			return fmt.Errorf("install: %s: stage %s: %w: %w", name, d.inf, ErrDriverInstall, err)
		}
		if got.Leftover {
			r.warn("%s: Windows used the files of the leftover driver store folder %s (driver version %s) instead of %s's", d.inf, got.Source, got.Version, r.rel.FileVersion())
		}
		r.rec.Drivers = append(r.rec.Drivers, d.inf)
		r.logf("MSI (s): DIFxApp: %s staged as %s", d.inf, got.Published)
	}
	r.res.RebootRequired = true
	return nil
}

// installDevices creates root devices and lets Plug and Play bind.
func (r *run) installDevices() error {
	h := r.h
	for _, d := range r.drivers() {
		if !d.root {
			continue
		}
		id := `ROOT\SYSTEM\0000`
		if err := h.AddDevice(host.Device{InstanceID: id, Description: d.desc, HardwareIDs: []string{d.hwids[0]}}); err != nil {
			return err
		}
		r.rec.Devices = append(r.rec.Devices, id)
	}
	before := len(h.Events())
	if err := h.Enumerate(); err != nil {
		return err
	}
	for _, e := range h.Events()[before:] {
		if e.Level != host.LevelInformation {
			r.warn("event log: %s: %s", e.Source, e.Message)
		}
	}
	return nil
}

func (r *run) registerProduct() error {
	props := map[string]string{}
	for _, p := range r.req.Properties {
		props[p.Name] = p.Value
	}
	sort.Strings(r.rec.Folders)
	rec, err := json.Marshal(r.rec)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if err := r.h.AddProduct(host.Product{
		Code: r.pkg.ProductCode, UpgradeCode: r.pkg.UpgradeCode, Name: r.pkg.ProductName(), Version: r.rel.FileVersion(),
		Publisher: Publisher, Package: r.pkg.FileName, InstallDir: r.dir, Features: r.res.Features, Properties: props, Record: rec,
	}); err != nil {
		return err
	}
	return r.h.LogEvent(host.LevelInformation, "MsiInstaller", 11707, fmt.Sprintf("Product: %s -- Installation completed successfully.", r.pkg.ProductName()))
}
