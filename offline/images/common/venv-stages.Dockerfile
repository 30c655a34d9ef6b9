# The first two stages of every image whose program runs from a Python venv (mlflow, pipeline-base,
# metadata): venv_image (offline/lib/build.sh) puts this file in front of the image's own
# Dockerfile, whose last stage starts FROM runtime and copies the venv from the build stage.
#   runtime  the Debian base image, Debian's python3 and RUNTIME_PACKAGES, and the program's user
#            APP_USER, uid/gid 1000, home APP_HOME (not created here), shell APP_SHELL.
#   build    the venv at VENV from PyPI, pinned by requirements.lock (common/venv-install.sh). pip
#            runs here only, with the build machine's CA bundle (PyPI may sit behind an intercepting
#            proxy); neither the bundle nor pip's cache reaches the final image. STRIP_PIP=1 leaves
#            pip, setuptools and the activate scripts out of the venv (a server that installs nothing).
ARG BASE
FROM ${BASE} AS runtime
ARG RUNTIME_PACKAGES=""
ARG APP_USER
ARG APP_HOME
ARG APP_SHELL=/usr/sbin/nologin
COPY debian.sources apt-install.sh /tmp/apt/
# hadolint ignore=SC2086 (RUNTIME_PACKAGES is a list)
RUN sh /tmp/apt/apt-install.sh python3 ${RUNTIME_PACKAGES} \
 && groupadd -g 1000 "${APP_USER:?}" \
 && useradd -u 1000 -g 1000 -d "${APP_HOME:?}" -M -s "${APP_SHELL}" "${APP_USER}"

FROM runtime AS build
ARG REQUIREMENTS
ARG VENV
ARG STRIP_PIP=""
COPY debian.sources apt-install.sh /tmp/apt/
RUN sh /tmp/apt/apt-install.sh python3-venv
COPY build-ca.crt requirements.* venv-install.sh /tmp/build/
RUN sh /tmp/build/venv-install.sh "${VENV:?}" \
 && if [ -n "${STRIP_PIP}" ]; then \
      "${VENV}/bin/pip" uninstall -q -y pip setuptools && rm -f "${VENV}"/bin/[Aa]ctivate* "${VENV}"/bin/pip*; \
    fi
