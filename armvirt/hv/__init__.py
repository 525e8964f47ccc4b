"""The Python side of armvirt's hypervisor (``firmware/``): the structures it shares with the
firmware (:mod:`armvirt.hv.abi`, the one definition of every offset the assembly uses), the boot
manifest and the loading of VMs (:mod:`armvirt.hv.launch`), and the console demultiplexer
(:mod:`armvirt.hv.console`)."""
