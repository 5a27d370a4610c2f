"""Box NMS and OKS-NMS (``nms.nms``); ``make -C lib`` builds the optional compiled kernels."""
