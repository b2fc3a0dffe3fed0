package host

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Getenv returns the system environment variable name (any case), with
// references to other variables left as stored ("" if unset).
func (h *Host) Getenv(name string) string {
	for _, v := range h.st.Env {
		if strings.EqualFold(v.Name, name) {
			return v.Value
		}
	}
	return ""
}

// LookupEnv is Getenv that also reports whether the variable is set.
func (h *Host) LookupEnv(name string) (string, bool) {
	for _, v := range h.st.Env {
		if strings.EqualFold(v.Name, name) {
			return v.Value, true
		}
	}
	return "", false
}

// Setenv sets a system environment variable.
func (h *Host) Setenv(name, value string) error {
	if name == "" || strings.ContainsAny(name, "=%") {
		return fmt.Errorf("host: setenv %q: bad name: %w", name, ErrBadConfig)
	}
	for i, v := range h.st.Env {
		if strings.EqualFold(v.Name, name) {
			h.st.Env[i].Value = value
			return h.changed()
		}
	}
	h.st.Env = append(h.st.Env, EnvVar{Name: name, Value: value})
	return h.changed()
}

// Unsetenv removes a system environment variable.
func (h *Host) Unsetenv(name string) error {
	for i, v := range h.st.Env {
		if strings.EqualFold(v.Name, name) {
			h.st.Env = append(h.st.Env[:i], h.st.Env[i+1:]...)
			return h.changed()
		}
	}
	return nil
}

// ExpandEnv replaces %NAME% references with the values of system
// environment variables (a Linux host expands $NAME and ${NAME}).
// Unknown references stay as written, as on Windows.
func (h *Host) ExpandEnv(s string) string {
	if h.st.OS == Linux {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if s[i] != '$' || i+1 == len(s) {
				b.WriteByte(s[i])
				continue
			}
			j, name := i+1, ""
			if s[j] == '{' {
				k := strings.IndexByte(s[j:], '}')
				if k < 0 {
					b.WriteByte(s[i])
					continue
				}
				name, j = s[j+1:j+k], j+k+1
			} else {
				for j < len(s) && (s[j] == '_' || isLetter(s[j]) || (s[j] >= '0' && s[j] <= '9')) {
					j++
				}
				name = s[i+1 : j]
			}
			b.WriteString(h.Getenv(name))
			i = j - 1
		}
		return b.String()
	}
	for depth := 0; depth < 8 && strings.Contains(s, "%"); depth++ {
		var b strings.Builder
		rest := s
		changed := false
		for {
			i := strings.IndexByte(rest, '%')
			if i < 0 {
				b.WriteString(rest)
				break
			}
			j := strings.IndexByte(rest[i+1:], '%')
			if j < 0 {
				b.WriteString(rest)
				break
			}
			name := rest[i+1 : i+1+j]
			if v, ok := h.LookupEnv(name); ok && name != "" {
				b.WriteString(rest[:i])
				b.WriteString(v)
				changed = true
			} else {
				b.WriteString(rest[:i+1+j])
				rest = rest[i+1+j:]
				continue
			}
			rest = rest[i+2+j:]
		}
		s = b.String()
		if !changed {
			break
		}
	}
	return s
}

// PathEntries splits the system PATH into its entries.
func (h *Host) PathEntries() []string {
	sep := ";"
	if h.st.OS == Linux {
		sep = ":"
	}
	var out []string
	for _, e := range strings.Split(h.Getenv("PATH"), sep) {
		if e != "" {
			out = append(out, e)
		}
	}
	return out
}

// InPath reports whether dir is one of the PATH entries (compared after
// expansion, as the host's file system compares names).
func (h *Host) InPath(dir string) bool {
	for _, e := range h.PathEntries() {
		if h.samePath(h.ExpandEnv(e), h.ExpandEnv(dir)) {
			return true
		}
	}
	return false
}

// AppendPath adds dir to the end of the system PATH unless it is there.
func (h *Host) AppendPath(dir string) error {
	if h.InPath(dir) {
		return nil
	}
	name := "Path"
	for _, v := range h.st.Env {
		if strings.EqualFold(v.Name, "PATH") {
			name = v.Name
		}
	}
	sep := ";"
	if h.st.OS == Linux {
		sep = ":"
	}
	return h.Setenv(name, strings.Join(append(h.PathEntries(), dir), sep))
}

// RemovePath takes dir out of the system PATH.
func (h *Host) RemovePath(dir string) error {
	var keep []string
	for _, e := range h.PathEntries() {
		if !h.samePath(h.ExpandEnv(e), h.ExpandEnv(dir)) {
			keep = append(keep, e)
		}
	}
	name := "Path"
	for _, v := range h.st.Env {
		if strings.EqualFold(v.Name, "PATH") {
			name = v.Name
		}
	}
	sep := ";"
	if h.st.OS == Linux {
		sep = ":"
	}
	return h.Setenv(name, strings.Join(keep, sep))
}

// logEvent appends a record to the System event log.
func (h *Host) logEvent(level EventLevel, source string, id uint32, msg string) {
	h.st.NextEvent++
	h.st.Events = append(h.st.Events, Event{Record: h.st.NextEvent, Time: h.now().UTC(), Level: level, Source: source, ID: id, Message: msg})
}

// LogEvent appends a record to the System event log.
func (h *Host) LogEvent(level EventLevel, source string, id uint32, msg string) error {
	if err := h.usable(); err != nil {
		return err
	}
	h.logEvent(level, source, id, msg)
	return h.changed()
}

// Events returns the System event log records, oldest first.
func (h *Host) Events() []Event { return h.State().Events }

// EventsFrom returns the records whose source is source (any case).
func (h *Host) EventsFrom(source string) []Event {
	var out []Event
	for _, e := range h.State().Events {
		if strings.EqualFold(e.Source, source) {
			out = append(out, e)
		}
	}
	return out
}

// AddCertificate puts a certificate into a machine store (as certutil
// -addstore does); adding one that is there is a no-op.
func (h *Host) AddCertificate(c Certificate) error {
	if c.Store == "" || c.Subject == "" {
		return fmt.Errorf("host: add certificate: a store and a subject are needed: %w", ErrBadConfig)
	}
	for _, have := range h.st.Certificates {
		if strings.EqualFold(have.Store, c.Store) && have.Subject == c.Subject && have.Thumbprint == c.Thumbprint {
			return nil
		}
	}
	h.st.Certificates = append(h.st.Certificates, c)
	return h.changed()
}

// RemoveCertificate deletes the certificates of subject from store.
func (h *Host) RemoveCertificate(store, subject string) error {
	h.st.Certificates = slices.DeleteFunc(h.st.Certificates, func(c Certificate) bool {
		return strings.EqualFold(c.Store, store) && c.Subject == subject
	})
	return h.changed()
}

// Trusts reports whether the Trusted Publishers store holds a
// certificate of subject, so its unsigned-by-WHQL drivers install without
// asking.
func (h *Host) Trusts(subject string) bool {
	for _, c := range h.st.Certificates {
		if strings.EqualFold(c.Store, StoreTrustedPublisher) && c.Subject == subject {
			return true
		}
	}
	return false
}

// Certificates returns the certificates of every store.
func (h *Host) Certificates() []Certificate { return h.State().Certificates }

// AttachDisk adds a disk reached over the fabric. It comes online.
func (h *Host) AttachDisk(d Disk) error {
	d.Volume = strings.ToUpper(d.Volume)
	if len(d.Volume) != 1 || !isLetter(d.Volume[0]) {
		return fmt.Errorf("host: attach disk: volume %q is not a drive letter: %w", d.Volume, ErrBadConfig)
	}
	for _, have := range h.st.Disks {
		if have.Volume == d.Volume {
			return fmt.Errorf("host: attach disk %s: %w", d.Volume, ErrExists)
		}
	}
	d.Online = true
	h.st.Disks = append(h.st.Disks, d)
	return h.changed()
}

// OfflineDisk takes a disk offline, as diskpart's SELECT VOLUME=X and
// OFFLINE DISK do; the files it held are released.
func (h *Host) OfflineDisk(volume string) error {
	for i := range h.st.Disks {
		if strings.EqualFold(h.st.Disks[i].Volume, volume) {
			h.st.Disks[i].Online = false
			return h.changed()
		}
	}
	return fmt.Errorf("host: offline disk %s: %w", volume, ErrNotFound)
}

// Disks returns the attached disks.
func (h *Host) Disks() []Disk { return h.State().Disks }

// AddProvider registers a Winsock Direct or NetworkDirect provider.
func (h *Host) AddProvider(p Provider) error {
	if p.Kind != ProviderWSD && p.Kind != ProviderND {
		return fmt.Errorf("host: add provider %q: kind %q: %w", p.Name, p.Kind, ErrBadConfig)
	}
	for _, have := range h.st.Providers {
		if have.Kind == p.Kind && strings.EqualFold(have.Name, p.Name) {
			return fmt.Errorf("host: add %s provider %q: %w", p.Kind, p.Name, ErrExists)
		}
	}
	h.st.Providers = append(h.st.Providers, p)
	return h.changed()
}

// RemoveProvider unregisters a provider.
func (h *Host) RemoveProvider(kind, name string) error {
	n := len(h.st.Providers)
	h.st.Providers = slices.DeleteFunc(h.st.Providers, func(p Provider) bool {
		return p.Kind == kind && strings.EqualFold(p.Name, name)
	})
	if len(h.st.Providers) == n {
		return fmt.Errorf("host: remove %s provider %q: %w", kind, name, ErrNotFound)
	}
	return h.changed()
}

// Providers returns the registered providers.
func (h *Host) Providers() []Provider { return h.State().Providers }

// AddProduct records an installed product.
func (h *Host) AddProduct(p Product) error {
	if p.Code == "" {
		return fmt.Errorf("host: add product %q: no product code: %w", p.Name, ErrBadConfig)
	}
	if _, err := h.Product(p.Code); err == nil {
		return fmt.Errorf("host: add product %s: %w", p.Code, ErrExists)
	}
	h.st.Products = append(h.st.Products, p)
	return h.changed()
}

// RemoveProduct deletes a product's record.
func (h *Host) RemoveProduct(code string) error {
	n := len(h.st.Products)
	h.st.Products = slices.DeleteFunc(h.st.Products, func(p Product) bool { return strings.EqualFold(p.Code, code) })
	if len(h.st.Products) == n {
		return fmt.Errorf("host: remove product %s: %w", code, ErrNotFound)
	}
	return h.changed()
}

// Product returns the installed product with ProductCode code.
func (h *Host) Product(code string) (Product, error) {
	for _, p := range h.State().Products {
		if strings.EqualFold(p.Code, code) {
			return p, nil
		}
	}
	return Product{}, fmt.Errorf("host: product %s: %w", code, ErrNotFound)
}

// Products returns the installed products.
func (h *Host) Products() []Product { return h.State().Products }

// Now is the host's clock.
func (h *Host) Now() time.Time { return h.now() }
