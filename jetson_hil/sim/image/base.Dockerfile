# The simulator's stand-in for an NVIDIA l4t-pytorch image: FROM scratch, with the host's Python,
# torch and system libraries bind-mounted at run time. What it carries itself is what tells the
# simulated GPU which torch build this is (/etc/jetson-sim/image.env) and the shim that is that build.
FROM scratch
COPY rootfs/ /
ARG VENV
ENV PATH=$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONPATH=/opt/jetson-sim/python \
    PYTHONUNBUFFERED=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
LABEL org.jetson-hil.simulated="true"
