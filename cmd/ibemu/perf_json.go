package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// --out_json: after each size perftest writes the test and its result to
// a JSON file (--out_json_file, perftest_out.json by default), truncating
// it first, so that the file holds the last size's report: an object
// with "test_info" (the header's fields) and "results" (the row's). The
// keys are perftest's, in its order.

// perfDefaultJSON is perftest's DEFAULT_JSON_FILE_NAME.
const perfDefaultJSON = "perftest_out.json"

// jsonField is one key and value of an ordered JSON object.
type jsonField struct {
	key string
	val any
}

// jsonObject writes fields as a JSON object, keys in order.
func jsonObject(b *bytes.Buffer, fields []jsonField) error {
	b.WriteString("{\n")
	for i, f := range fields {
		k, _ := json.Marshal(f.key)
		var v []byte
		var err error
		switch x := f.val.(type) {
		case []jsonField:
			var sub bytes.Buffer
			err = jsonObject(&sub, x)
			v = bytes.TrimRight(sub.Bytes(), "\n")
		default:
			v, err = json.Marshal(x)
		}
		if err != nil {
			return fmt.Errorf("perf: --out_json: %s: %w", f.key, err)
		}
		b.Write(k)
		b.WriteString(": ")
		b.Write(v)
		if i < len(fields)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return nil
}

// jsonTestInfo is perftest's "test_info" of this run (as its header).
func (env *perfEnv) jsonTestInfo() []jsonField {
	c := env.c
	s := env.client
	if s == nil {
		s = env.server
	}
	onOff := map[bool]string{false: "OFF", true: "ON"}
	t := perfTests[c.test]
	verb := perfVerb(c.test)
	name := map[string]string{"send": "Send", "write": "RDMA_Write", "read": "RDMA_Read", "atomic": "Atomic"}[verb] + "_"
	if verb == "atomic" {
		name += c.atomic + "_"
	}
	switch {
	case t.lat:
		name += "Latency_"
	default:
		if c.bidir {
			name += "Bidirectional_"
		}
		if c.postList > 1 {
			name += "Post_List_"
		}
		name += "BW_"
	}
	if c.mcg {
		name += "Multicast_"
	}
	f := []jsonField{{"test", name + "Test"}}
	if c.mcg {
		f = append(f, jsonField{"MultiCast_runs", "on_UD"})
	}
	f = append(f, jsonField{"Dual_port", "OFF"}, jsonField{"Device", s.name}, jsonField{"Number_of_qps", c.qps},
		jsonField{"Transport_type", "IB"}, jsonField{"Connection_type", c.conn}, jsonField{"Using_SRQ", onOff[c.useSRQ]},
		jsonField{"ibv_wr_API", "OFF"})
	if s == env.client || c.bidir {
		f = append(f, jsonField{"TX_depth", c.txDepth})
	}
	if c.postList > 1 {
		f = append(f, jsonField{"Post_List", c.postList})
	}
	if (verb == "send" || c.test == "write_lat") && (s == env.server || c.bidir) {
		f = append(f, jsonField{"RX_depth", c.rxDepth})
	}
	if !t.lat {
		f = append(f, jsonField{"CQ_Moderation", c.cqMod})
	}
	f = append(f, jsonField{"Mtu", c.mtu}, jsonField{"Link_type", "IB"})
	if c.gidIndex.n >= 0 {
		f = append(f, jsonField{"GID_index", c.gidIndex.n})
	}
	if verb != "read" && verb != "atomic" {
		f = append(f, jsonField{"Max_inline_data", c.inlineSize})
	} else {
		f = append(f, jsonField{"Outstand_reads", c.outReads})
	}
	exch := "Ethernet"
	if c.rdmaCM {
		exch = "rdma_cm"
	}
	return append(f, jsonField{"rdma_cm_QPs", onOff[c.rdmaCM]}, jsonField{"Data_ex_method", exch})
}

// writeJSON writes the report of one size, results being its row.
func (env *perfEnv) writeJSON(results []jsonField) error {
	c := env.c
	if !c.outJSON {
		return nil
	}
	var b bytes.Buffer
	if err := jsonObject(&b, []jsonField{{"test_info", env.jsonTestInfo()}, {"results", results}}); err != nil {
		return err
	}
	if err := os.WriteFile(c.jsonFile, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("perf: --out_json: %w", err)
	}
	return nil
}

// round2 and round6 are perftest's %.2f and %.6f in the JSON numbers.
func round2(v float64) json.Number { return json.Number(fmt.Sprintf("%.2f", v)) }
func round6(v float64) json.Number { return json.Number(fmt.Sprintf("%.6f", v)) }

// latJSON writes --out_json's report of a latency row.
func (env *perfEnv) latJSON(res []jsonField) {
	env.noteReportErr(env.writeJSON(res))
}

// noteReportErr keeps the first failure of a report (nil is none).
func (env *perfEnv) noteReportErr(err error) {
	if err != nil && env.reportErr == nil {
		env.reportErr = err
	}
}
