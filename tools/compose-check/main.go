// Command compose-check validates docker-compose.yml and the images it builds without a Docker
// engine, using Docker's own code: the Compose Specification loader that `docker compose` is
// built on (compose-go), and BuildKit's Dockerfile frontend and linter (`docker build --check`).
//
//	compose-check config [-C DIR] [-f FILE] [--env-file FILE]... [--no-env-file] [--profile P]...
//
// loads the project as `docker compose config` does (schema, interpolation, normalization,
// consistency checks), treats every warning as an error (an unset variable, for one), and prints
// the resolved project as JSON. Without --profile it loads it once with no profile, once per
// declared profile and once with all of them.
//
//	compose-check images [-C DIR] [-f FILE] [--env-file FILE]... [--base-images FILE]
//
// for every Dockerfile that a service builds: parses it and runs the rules of
// `docker build --check`, converts it as BuildKit does to get the image's configuration
// (entrypoint, command, user, environment, ...), and checks that every COPY source is a file of
// the build context that .dockerignore lets through. Base images cannot be pulled here, so their
// metadata comes from base-images.json (written from their published Dockerfiles).
//
// Both print JSON on stdout, problems on stderr, and exit 1 when there is a problem.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
)

//go:embed base-images.json
var baseImagesJSON []byte

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

type projectFlags struct {
	dir       string
	file      string
	envFiles  stringList
	noEnvFile bool
}

func (p *projectFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.dir, "C", ".", "project directory")
	fs.StringVar(&p.file, "f", "docker-compose.yml", "compose file, relative to the project directory")
	fs.Var(&p.envFiles, "env-file", "environment file for interpolation (repeatable; default: .env if present)")
	fs.BoolVar(&p.noEnvFile, "no-env-file", false, "interpolate with no environment file at all (defaults only)")
}

// warnings collects what compose-go logs at warning level or above: `docker compose` prints
// these and goes on, this check fails on them.
type warnings struct{ messages []string }

func (w *warnings) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (w *warnings) Fire(e *logrus.Entry) error {
	w.messages = append(w.messages, e.Message)
	return nil
}

var collected = &warnings{}

func main() {
	logrus.SetOutput(discard{})
	logrus.AddHook(collected)
	if len(os.Args) < 2 {
		fail("usage: compose-check {config|images} [flags]")
	}
	var err error
	switch os.Args[1] {
	case "config":
		err = runConfig(os.Args[2:])
	case "images":
		err = runImages(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want config or images)", os.Args[1])
	}
	if err != nil {
		fail(err.Error())
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "compose-check: "+msg)
	os.Exit(1)
}

func writeJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// loadProject follows `docker compose config`: the same option order as docker/compose's
// ProjectOptions.toProjectOptions (minus the OS environment, so the result depends only on the
// files), then the same post-processing as its LoadProject.
func loadProject(ctx context.Context, pf projectFlags, profiles []string) (*types.Project, error) {
	dir, err := filepath.Abs(pf.dir)
	if err != nil {
		return nil, err
	}
	envFiles := []string{}
	for _, f := range pf.envFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		envFiles = append(envFiles, f)
	}
	envOption := cli.WithEnvFiles(envFiles...)
	if pf.noEnvFile {
		envOption = func(o *cli.ProjectOptions) error { o.EnvFiles = nil; return nil }
	}
	options, err := cli.NewProjectOptions([]string{filepath.Join(dir, pf.file)},
		cli.WithWorkingDirectory(dir),
		envOption,
		cli.WithDotEnv,
		cli.WithProfiles(profiles),
		cli.WithName(""),
	)
	if err != nil {
		return nil, err
	}
	start := len(collected.messages)
	project, err := options.LoadProject(ctx)
	if err != nil {
		return nil, err
	}
	project, err = project.WithServicesEnvironmentResolved(true)
	if err != nil {
		return nil, err
	}
	project = project.WithoutUnnecessaryResources()
	if err := project.CheckContainerNameUnicity(); err != nil {
		return nil, err
	}
	if msgs := collected.messages[start:]; len(msgs) > 0 {
		return nil, fmt.Errorf("warnings: %s", strings.Join(msgs, "; "))
	}
	return project, nil
}

func declaredProfiles(ctx context.Context, pf projectFlags) ([]string, error) {
	project, err := loadProject(ctx, pf, []string{"*"})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, s := range project.AllServices() {
		for _, p := range s.Profiles {
			seen[p] = true
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

type variant struct {
	Profiles []string        `json:"profiles"`
	Project  json.RawMessage `json:"project"`
}

func runConfig(args []string) error {
	fs := flag.NewFlagSet("config", flag.ExitOnError)
	var pf projectFlags
	pf.register(fs)
	var profiles stringList
	fs.Var(&profiles, "profile", "profile to enable (repeatable; default: none, each one, all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	sets := [][]string{profiles}
	if len(profiles) == 0 {
		declared, err := declaredProfiles(ctx, pf)
		if err != nil {
			return err
		}
		sets = [][]string{{}}
		for _, p := range declared {
			sets = append(sets, []string{p})
		}
		if len(declared) > 1 {
			sets = append(sets, declared)
		}
	}
	out := struct {
		Variants []variant `json:"variants"`
	}{}
	for _, set := range sets {
		project, err := loadProject(ctx, pf, set)
		if err != nil {
			return fmt.Errorf("profiles %v: %w", set, err)
		}
		raw, err := project.MarshalJSON()
		if err != nil {
			return err
		}
		out.Variants = append(out.Variants, variant{Profiles: append([]string{}, set...), Project: raw})
	}
	return writeJSON(out)
}

// ---- images

type baseImage struct {
	Source string          `json:"source"`
	Config json.RawMessage `json:"config"`
}

// offlineResolver answers BuildKit's base-image lookups from base-images.json.
type offlineResolver struct{ images map[string]baseImage }

func (r offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	for name, img := range r.images {
		if normalized(name) == normalized(ref) {
			return ref, "", img.Config, nil
		}
	}
	return "", "", nil, fmt.Errorf("no metadata for base image %q in base-images.json", ref)
}

func normalized(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return named.String()
}

type copyCheck struct {
	Line      int      `json:"line"`
	Sources   []string `json:"sources"`
	Dest      string   `json:"dest"`
	SentFiles []int    `json:"sent_files"` // per source: files of the context it selects
}

type imageReport struct {
	Dockerfile string          `json:"dockerfile"`
	Context    string          `json:"context"`
	Services   []string        `json:"services"`
	BaseImages []string        `json:"base_images"`
	Config     json.RawMessage `json:"config"`
	Copies     []copyCheck     `json:"copies"`
	SentFiles  []string        `json:"context_files"` // what .dockerignore lets through
	Lint       []string        `json:"lint"`
	Problems   []string        `json:"problems"`
}

func runImages(args []string) error {
	fs := flag.NewFlagSet("images", flag.ExitOnError)
	var pf projectFlags
	pf.register(fs)
	baseFile := fs.String("base-images", "", "metadata of the base images (default: the built-in base-images.json)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data := baseImagesJSON
	if *baseFile != "" {
		var err error
		if data, err = os.ReadFile(*baseFile); err != nil {
			return err
		}
	}
	var bases map[string]baseImage
	if err := json.Unmarshal(data, &bases); err != nil {
		return fmt.Errorf("base images: %w", err)
	}
	ctx := context.Background()
	project, err := loadProject(ctx, pf, []string{"*"})
	if err != nil {
		return err
	}
	byFile := map[string]*imageReport{}
	var order []string
	for _, name := range project.ServiceNames() {
		s := project.Services[name]
		if s.Build == nil {
			continue
		}
		dockerfile := s.Build.Dockerfile
		if !filepath.IsAbs(dockerfile) {
			dockerfile = filepath.Join(s.Build.Context, dockerfile)
		}
		key := s.Build.Context + "\x00" + dockerfile + "\x00" + s.Build.Target
		if byFile[key] == nil {
			rel, _ := filepath.Rel(project.WorkingDir, dockerfile)
			byFile[key] = &imageReport{Dockerfile: filepath.ToSlash(rel), Context: s.Build.Context}
			order = append(order, key)
		}
		byFile[key].Services = append(byFile[key].Services, name)
	}
	var reports []*imageReport
	var problems []string
	for _, key := range order {
		r := byFile[key]
		checkImage(ctx, r, project.WorkingDir, offlineResolver{bases})
		for _, p := range r.Problems {
			problems = append(problems, r.Dockerfile+": "+p)
		}
		reports = append(reports, r)
	}
	if err := writeJSON(struct {
		Images []*imageReport `json:"images"`
	}{reports}); err != nil {
		return err
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n  "))
	}
	return nil
}

func checkImage(ctx context.Context, r *imageReport, workingDir string, resolver offlineResolver) {
	r.Lint, r.Copies, r.BaseImages, r.SentFiles = []string{}, []copyCheck{}, []string{}, []string{}
	r.Problems = []string{}
	problem := func(format string, a ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, a...)) }
	dt, err := os.ReadFile(filepath.Join(workingDir, filepath.FromSlash(r.Dockerfile)))
	if err != nil {
		problem("%v", err)
		return
	}

	sourceMap := llb.NewSourceMap(nil, r.Dockerfile, "Dockerfile", dt)
	sourceMap.Definition = &llb.Definition{}
	results, err := dockerfile2llb.DockerfileLint(ctx, dt, dockerfile2llb.ConvertOpt{MetaResolver: resolver, SourceMap: sourceMap})
	if err != nil {
		problem("lint: %v", err)
	} else {
		for _, w := range results.Warnings {
			msg := fmt.Sprintf("%s: %s%s", w.RuleName, w.Detail, lineOf(w))
			r.Lint = append(r.Lint, msg)
			problem("docker build --check: %s", msg)
		}
		if results.Error != nil {
			problem("build error: %s", results.Error.Message)
		}
	}

	converted, err := dockerfile2llb.Dockerfile2LLB(ctx, dt, dockerfile2llb.ConvertOpt{MetaResolver: resolver})
	if err != nil {
		problem("convert: %v", err)
		return
	}
	cfg, _ := json.Marshal(converted.Image.Config)
	r.Config = cfg

	ast, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		problem("parse: %v", err)
		return
	}
	stages, _, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		problem("parse: %v", err)
		return
	}
	sent, err := contextFiles(r.Context)
	if err != nil {
		problem("context: %v", err)
		return
	}
	r.SentFiles = sent
	stageNames := map[string]bool{}
	for _, st := range stages {
		r.BaseImages = append(r.BaseImages, st.BaseName)
		for _, c := range st.Commands {
			cp, ok := c.(*instructions.CopyCommand)
			if !ok || cp.From != "" {
				continue
			}
			check := copyCheck{Line: cp.Location()[0].Start.Line, Sources: cp.SourcePaths, Dest: cp.DestPath}
			for _, src := range cp.SourcePaths {
				n := countSelected(sent, src)
				check.SentFiles = append(check.SentFiles, n)
				if n == 0 {
					problem("line %d: COPY %s selects no file of the build context (missing, or excluded by .dockerignore)",
						check.Line, src)
				}
			}
			r.Copies = append(r.Copies, check)
		}
		if st.Name != "" {
			stageNames[st.Name] = true
		}
	}
	// Base images that are stages of this file are not pulled; the others must be known.
	bases := r.BaseImages[:0]
	for _, b := range r.BaseImages {
		if !stageNames[b] {
			bases = append(bases, b)
		}
	}
	r.BaseImages = slices.Compact(bases)
}

func lineOf(w lint.Warning) string {
	if w.Location == nil || len(w.Location.Ranges) == 0 {
		return ""
	}
	return fmt.Sprintf(" (line %d)", w.Location.Ranges[0].Start.Line)
}

// contextFiles lists the files of a build context that .dockerignore lets through, with the
// pattern matcher BuildKit uses to send the context.
func contextFiles(dir string) ([]string, error) {
	var patterns []string
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		patterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf(".dockerignore: %w", err)
		}
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." || d.IsDir() {
			return nil
		}
		rel = filepath.ToSlash(rel)
		ignored, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if !ignored {
			files = append(files, rel)
		}
		return nil
	})
	return files, err
}

// countSelected counts the sent files that a COPY source selects: the source itself, a file
// under it when it is a folder, or the files its wildcards match.
func countSelected(files []string, src string) int {
	src = strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(src)), "/")
	n := 0
	for _, f := range files {
		if src == "" || f == src || strings.HasPrefix(f, src+"/") {
			n++
			continue
		}
		for prefix := f; prefix != "."; prefix = path.Dir(prefix) {
			if ok, _ := path.Match(src, prefix); ok {
				n++
				break
			}
		}
	}
	return n
}
