/* One numpy sample into a compiled library's NAME_eval (or NAME_eval_f32) and its output back as a
 * numpy array, in C: the Python one-sample path cost about 1 us of dtype checks, list or pointer
 * conversion and an astype over the C call, which is most of a small network's time.
 *
 * Only the plain case is handled here: an ndarray of exactly the declared sample shape, C-contiguous,
 * of a native float64, float32, int64 or int32 dtype. For anything else, and for a call whose status
 * is not 0, the call returns None and calling.py takes its general path, which converts what can be
 * converted and names what is wrong. The input is read through the buffer protocol and the output
 * is made by numpy.empty, so this file needs Python.h only (no numpy headers).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int (*eval_fn)(const double *, double *);
typedef int (*eval_f32_fn)(const float *, float *);

/* what numpy.empty makes for the output, and how one double becomes its element */
enum output_kind { OUT_F64, OUT_F32, OUT_I64, OUT_BOOL };

/* samples of other dtypes than float64 (read in place) up to this many elements are converted on
 * the stack, larger ones in a malloc'd buffer; outputs alike */
#define STACK_ELEMENTS 256

typedef struct {
    PyObject_HEAD
    eval_fn eval;
    eval_f32_fn eval_f32; /* NULL when the library has no float32 rows */
    PyObject *ndarray; /* numpy.ndarray: only exact instances take this path */
    Py_ssize_t ndim;
    Py_ssize_t shape[8];
    Py_ssize_t in_numel;
    Py_ssize_t out_numel;
    int out_kind;
    int out_scalar;     /* the output of one sample is shape (): return its element */
    PyObject *empty;    /* numpy.empty */
    PyObject *out_args; /* (shape, dtype) for numpy.empty */
} SampleCall;

static void SampleCall_dealloc(SampleCall *self) {
    Py_XDECREF(self->ndarray);
    Py_XDECREF(self->empty);
    Py_XDECREF(self->out_args);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* SampleCall(eval_address, eval_f32_address or 0, ndarray_type, sample_shape, out_numel,
 *            out_kind, empty, out_shape, out_dtype) */
static int SampleCall_init(SampleCall *self, PyObject *args, PyObject *Py_UNUSED(kwargs)) {
    unsigned long long eval_address, eval_f32_address;
    PyObject *ndarray, *shape, *empty, *out_shape, *out_dtype;
    Py_ssize_t out_numel;
    int out_kind;
    if (!PyArg_ParseTuple(args, "KKOO!niOOO", &eval_address, &eval_f32_address, &ndarray,
                          &PyTuple_Type, &shape, &out_numel, &out_kind, &empty, &out_shape,
                          &out_dtype))
        return -1;
    if (!PyType_Check(ndarray) || eval_address == 0 || out_kind < OUT_F64 || out_kind > OUT_BOOL ||
        out_numel < 1 || PyTuple_GET_SIZE(shape) > 8) {
        PyErr_SetString(PyExc_ValueError, "SampleCall: invalid arguments");
        return -1;
    }
    self->eval = (eval_fn)(uintptr_t)eval_address;
    self->eval_f32 = (eval_f32_fn)(uintptr_t)eval_f32_address;
    self->ndim = PyTuple_GET_SIZE(shape);
    self->in_numel = 1;
    for (Py_ssize_t i = 0; i < self->ndim; i++) {
        self->shape[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, i));
        if (self->shape[i] < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "SampleCall: negative dimension");
            return -1;
        }
        self->in_numel *= self->shape[i];
    }
    self->out_numel = out_numel;
    self->out_kind = out_kind;
    self->out_scalar = PyTuple_Check(out_shape) && PyTuple_GET_SIZE(out_shape) == 0;
    Py_XSETREF(self->ndarray, Py_NewRef(ndarray));
    Py_XSETREF(self->empty, Py_NewRef(empty));
    Py_XSETREF(self->out_args, PyTuple_Pack(2, out_shape, out_dtype));
    return self->out_args == NULL ? -1 : 0;
}

/* the buffer's element kind when it is one this file converts: 'd', 'f', 'q' (int64), 'i' (int32) */
static char element_kind(const Py_buffer *view) {
    const char *format = view->format;
    if (format == NULL || format[0] == '\0' || format[1] != '\0')
        return 0; /* byte-order prefixes and compound formats go to the general path */
    switch (format[0]) {
    case 'd':
        return view->itemsize == 8 ? 'd' : 0;
    case 'f':
        return view->itemsize == 4 ? 'f' : 0;
    case 'l':
    case 'q':
        return view->itemsize == 8 ? 'q' : 0;
    case 'i':
        return view->itemsize == 4 ? 'i' : 0;
    default:
        return 0;
    }
}

static void to_doubles(const Py_buffer *view, char kind, double *x, Py_ssize_t n) {
    switch (kind) {
    case 'f':
        for (Py_ssize_t i = 0; i < n; i++) x[i] = ((const float *)view->buf)[i];
        break;
    case 'q':
        for (Py_ssize_t i = 0; i < n; i++) x[i] = (double)((const int64_t *)view->buf)[i];
        break;
    default: /* 'i' ('d' is not converted) */
        for (Py_ssize_t i = 0; i < n; i++) x[i] = ((const int32_t *)view->buf)[i];
        break;
    }
}

/* what the call returns: the output array, or its element (a numpy scalar) when one sample's
 * output is one value; steals the reference to `out` */
static PyObject *returned(SampleCall *self, PyObject *out) {
    if (!self->out_scalar) return out;
    PyObject *empty_index = PyTuple_New(0);
    PyObject *element = empty_index ? PyObject_GetItem(out, empty_index) : NULL;
    Py_XDECREF(empty_index);
    Py_DECREF(out);
    return element;
}

/* the output from C's doubles, converted to the output dtype */
static PyObject *make_output(SampleCall *self, const double *y) {
    PyObject *out = PyObject_Call(self->empty, self->out_args, NULL);
    if (out == NULL) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(out, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    Py_ssize_t n = self->out_numel;
    switch (self->out_kind) {
    case OUT_F64:
        memcpy(view.buf, y, (size_t)n * sizeof(double));
        break;
    case OUT_F32:
        for (Py_ssize_t i = 0; i < n; i++) ((float *)view.buf)[i] = (float)y[i];
        break;
    case OUT_I64:
        for (Py_ssize_t i = 0; i < n; i++) ((int64_t *)view.buf)[i] = (int64_t)y[i];
        break;
    default: /* OUT_BOOL: numpy's astype(bool), NaN included, is "not equal to 0" */
        for (Py_ssize_t i = 0; i < n; i++) ((unsigned char *)view.buf)[i] = y[i] != 0.0;
        break;
    }
    PyBuffer_Release(&view);
    return returned(self, out);
}

/* float32 in, float32 out through NAME_eval_f32: no conversion either way */
static PyObject *call_f32(SampleCall *self, const Py_buffer *view) {
    PyObject *out = PyObject_Call(self->empty, self->out_args, NULL);
    if (out == NULL) return NULL;
    Py_buffer y;
    if (PyObject_GetBuffer(out, &y, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = self->eval_f32((const float *)view->buf, (float *)y.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&y);
    if (status != 0) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    return returned(self, out);
}

static PyObject *SampleCall_call(SampleCall *self, PyObject *args, PyObject *kwargs) {
    PyObject *x;
    if (kwargs != NULL || PyTuple_GET_SIZE(args) != 1) Py_RETURN_NONE;
    x = PyTuple_GET_ITEM(args, 0);
    if ((PyObject *)Py_TYPE(x) != self->ndarray) Py_RETURN_NONE;
    Py_buffer view;
    if (PyObject_GetBuffer(x, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear(); /* not C-contiguous, or no buffer: the general path copes */
        Py_RETURN_NONE;
    }
    PyObject *result = NULL;
    char kind = element_kind(&view);
    int matches = kind != 0 && view.ndim == self->ndim;
    for (Py_ssize_t i = 0; matches && i < self->ndim; i++) matches = view.shape[i] == self->shape[i];
    if (!matches) {
        result = Py_NewRef(Py_None);
    } else if (kind == 'f' && self->eval_f32 != NULL && self->out_kind == OUT_F32) {
        result = call_f32(self, &view);
    } else {
        double stack_x[STACK_ELEMENTS], stack_y[STACK_ELEMENTS];
        /* a float64 sample is read where it is; other dtypes are converted first */
        double *xs = kind == 'd' ? (double *)view.buf : stack_x, *ys = stack_y;
        if (kind != 'd' && self->in_numel > STACK_ELEMENTS)
            xs = malloc((size_t)self->in_numel * sizeof(double));
        if (self->out_numel > STACK_ELEMENTS) ys = malloc((size_t)self->out_numel * sizeof(double));
        if (xs == NULL || ys == NULL) {
            result = PyErr_NoMemory();
        } else {
            int status;
            if (kind != 'd') to_doubles(&view, kind, xs, self->in_numel);
            Py_BEGIN_ALLOW_THREADS
            status = self->eval(xs, ys);
            Py_END_ALLOW_THREADS
            result = status == 0 ? make_output(self, ys) : Py_NewRef(Py_None);
        }
        if (xs != stack_x && kind != 'd') free(xs);
        if (ys != stack_y) free(ys);
    }
    PyBuffer_Release(&view);
    return result;
}

static PyTypeObject SampleCallType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nnc.backends._sample_call.SampleCall",
    .tp_doc = PyDoc_STR("One plain numpy sample into NAME_eval; None when the general path must "
                        "take the call (another kind of argument, or a non-zero status)."),
    .tp_basicsize = sizeof(SampleCall),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)SampleCall_init,
    .tp_dealloc = (destructor)SampleCall_dealloc,
    .tp_call = (ternaryfunc)SampleCall_call,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "nnc.backends._sample_call",
    .m_doc = PyDoc_STR("The one-sample call path of nnc's Python callables, in C."),
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__sample_call(void) {
    if (PyType_Ready(&SampleCallType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "SampleCall", (PyObject *)&SampleCallType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
