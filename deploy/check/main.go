// Command check decodes Kubernetes manifests (helm template's output) strictly into the Kubernetes and Prometheus
// Operator API types: an unknown or misspelt field, a value of the wrong type or an unknown kind fails. It is a module
// of its own so that the binaries do not depend on k8s.io/api. Used by `make deploy-check`:
//
//	helm template gpumeter deploy/helm/gpumeter | (cd deploy/check && go run . -)
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// types maps apiVersion/kind to a fresh object of its Go type.
var types = map[string]func() any{
	"v1/ConfigMap":                             func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                                func() any { return &corev1.Secret{} },
	"v1/Service":                               func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                        func() any { return &corev1.ServiceAccount{} },
	"v1/Namespace":                             func() any { return &corev1.Namespace{} },
	"apps/v1/DaemonSet":                        func() any { return &appsv1.DaemonSet{} },
	"apps/v1/Deployment":                       func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                             func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":            func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":       func() any { return &networkingv1.NetworkPolicy{} },
	"rbac.authorization.k8s.io/v1/ClusterRole": func() any { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
	"rbac.authorization.k8s.io/v1/Role":               func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1/RoleBinding":        func() any { return &rbacv1.RoleBinding{} },
	"monitoring.coreos.com/v1/ServiceMonitor":         func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PodMonitor":             func() any { return &monitoringv1.PodMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule":         func() any { return &monitoringv1.PrometheusRule{} },
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "values-doc" {
		if err := valuesDocumented(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: check FILE... (- for standard input)")
		os.Exit(2)
	}
	var errs []error
	n := 0
	for _, name := range os.Args[1:] {
		var r io.Reader = os.Stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			defer f.Close()
			r = f
		}
		count, err := decodeAll(name, r)
		n += count
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if n == 0 {
		fmt.Fprintln(os.Stderr, "check: no manifests")
		os.Exit(1)
	}
	fmt.Printf("check: %d manifests decode strictly\n", n)
}

// decodeAll splits r into YAML documents and decodes each; it returns how many it decoded and every failure.
func decodeAll(name string, r io.Reader) (int, error) {
	var errs []error
	n := 0
	for i, doc := range split(r) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", name, i+1, err))
			continue
		}
		if head.Kind == "" {
			continue // an empty document
		}
		where := fmt.Sprintf("%s: %s %s", name, head.Kind, head.Metadata.Name)
		mk, ok := types[head.APIVersion+"/"+head.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown apiVersion/kind %s/%s", where, head.APIVersion, head.Kind))
			continue
		}
		if err := yaml.UnmarshalStrict(doc, mk()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// valuesDocumented checks that the chart README's table names every key of values.yaml down to two levels
// (`agent.interval`, or keys under it such as `agent.spool.maxBytes`), so a value added to the chart cannot go
// undocumented.
func valuesDocumented(valuesFile, readmeFile string) error {
	raw, err := os.ReadFile(valuesFile)
	if err != nil {
		return err
	}
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		return err
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		return fmt.Errorf("%s: %w", valuesFile, err)
	}
	var missing []string
	for k, v := range values {
		paths := []string{k}
		if m, ok := v.(map[string]any); ok {
			for k2 := range m {
				paths = append(paths, k+"."+k2)
			}
		}
		for _, p := range paths {
			if !bytes.Contains(readme, []byte("`"+p+"`")) && !bytes.Contains(readme, []byte("`"+p+".")) {
				missing = append(missing, p)
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%s: the values table lacks %s", readmeFile, strings.Join(missing, ", "))
	}
	return nil
}

func split(r io.Reader) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimRight(line, " ") == "---" {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.WriteString(line + "\n")
	}
	return append(docs, cur.Bytes())
}
