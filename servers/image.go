package servers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/hpcorch/hpcorch/recipe"
	"github.com/hpcorch/hpcorch/sshx"
)

// BuildImage builds r's Apptainer image from its docker_source into its
// image path on the login node (through the Executor), unless the image
// is there already, and returns the image's absolute path. Compute nodes
// often cannot reach a registry while the login node can: building here
// first spares the job the build. The image path may start with $HOME or
// ~, and must name no other variable.
func (s *Servers) BuildImage(ctx context.Context, r *recipe.Recipe) (string, error) {
	img, err := s.imagePath(ctx, r)
	if err != nil {
		return "", err
	}
	src := r.Service.Container.Source()
	cmd := "hpcorch_log() { printf 'hpcorch: %s\\n' \"$*\" >&2; }\nHPCORCH_NODE=login\n" +
		libFunc("hpcorch_image") + "hpcorch_image " + sshx.QuoteAll(img, src)
	if _, stderr, err := s.exec.Run(ctx, cmd, nil); err != nil {
		err = fmt.Errorf("servers: build image %s: %w", img, err)
		if last := lastLine(string(stderr)); !strings.Contains(err.Error(), last) {
			err = fmt.Errorf("%w: %s", err, last) // the build's own last word
		}
		return "", classifyLog(string(stderr), err)
	}
	return img, nil
}

// UploadImage copies the image file local (a SIF built elsewhere) to r's
// image path on the cluster over the Executor, replacing what is there,
// and returns the image's absolute path.
func (s *Servers) UploadImage(ctx context.Context, r *recipe.Recipe, local string) (string, error) {
	img, err := s.imagePath(ctx, r)
	if err != nil {
		return "", err
	}
	f, err := os.Open(local)
	if err != nil {
		return "", fmt.Errorf("servers: upload image: %w", err)
	}
	defer f.Close()
	if err := checkImageFile(f); err != nil {
		return "", fmt.Errorf("servers: upload image %s: %w", local, err)
	}

	if _, _, err := s.exec.Run(ctx, "mkdir -p "+sshx.Quote(path.Dir(img)), nil); err != nil {
		return "", fmt.Errorf("servers: upload image %s: %w", img, err)
	}
	tmp := img + ".upload." + s.newID()
	if err := s.exec.Put(ctx, tmp, f, 0o644); err != nil {
		return "", fmt.Errorf("servers: upload image to %s: %w", tmp, err)
	}
	if _, _, err := s.exec.Run(ctx, "mv -f "+sshx.QuoteAll(tmp, img), nil); err != nil {
		return "", fmt.Errorf("servers: upload image %s: %w", img, err)
	}
	s.log.Info("image uploaded", "path", img)
	return img, nil
}

// imagePath returns the absolute path of r's image on the cluster.
func (s *Servers) imagePath(ctx context.Context, r *recipe.Recipe) (string, error) {
	if r == nil || r.Service.Kind() != recipe.KindContainer {
		return "", fmt.Errorf("servers: the recipe has no container image")
	}
	p := r.Service.ImagePath()
	if p == "~" || strings.HasPrefix(p, "${HOME}/") {
		p = "$HOME/" + strings.TrimPrefix(strings.TrimPrefix(p, "~"), "${HOME}/")
	}
	return s.remotePath(ctx, p)
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// checkImageFile checks that f is an image Apptainer runs: a SIF file
// ("SIF_MAGIC" after its 32-byte launch line) or a SquashFS one ("hsqs"),
// and leaves f at its start.
func checkImageFile(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s): give a SIF image", fi.Mode().Type())
	}
	head := make([]byte, 41)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if !bytes.HasPrefix(head, []byte("hsqs")) &&
		!(len(head) == 41 && string(head[32:41]) == "SIF_MAGIC") {
		return fmt.Errorf("not a SIF or SquashFS image (%d bytes): build one with "+
			"apptainer build IMAGE.sif docker://...", fi.Size())
	}
	return nil
}
