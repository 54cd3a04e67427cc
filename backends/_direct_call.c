/* The calls of nnc's Python callables that go straight to C, and their outputs back as numpy
 * arrays:
 * - one sample (an ndarray of exactly the declared sample shape, C-contiguous, of a native float64,
 *   float32, int64 or int32 dtype) into NAME_eval or NAME_eval_f32: the Python path cost about
 *   1 us of dtype checks, list or pointer conversion and an astype over the C call, which is most
 *   of a small network's time;
 * - a float64 C-contiguous batch (n, *shape) into NAME_eval_batch, its double outputs converted to
 *   the output dtype a chunk at a time while they are in L1: the Python path wrote all of them to
 *   memory and converted them in a second pass, 1.4x the C loop on a closed form.
 * For anything else, and for a call whose status is not 0, the call returns None and calling.py
 * takes its general path, which converts what can be converted and names what is wrong. Inputs
 * are read through the buffer protocol and outputs are made by numpy.empty, so this file needs
 * Python.h only (no numpy headers).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int (*eval_fn)(const double *, double *);
typedef int (*eval_f32_fn)(const float *, float *);
typedef int (*eval_batch_fn)(int64_t, const double *, double *);

/* what numpy.empty makes for the output, and how one double becomes its element */
enum output_kind { OUT_F64, OUT_F32, OUT_I64, OUT_BOOL };

/* samples of other dtypes than float64 (read in place) up to this many elements are converted on
 * the stack, larger ones in a malloc'd buffer; outputs alike */
#define STACK_ELEMENTS 256
/* a batch's double outputs are converted this many at a time (32 KiB: they stay in L1) */
#define CHUNK_ELEMENTS 4096

typedef struct {
    PyObject_HEAD
    eval_fn eval;
    eval_f32_fn eval_f32; /* NULL when the library has no float32 rows */
    eval_batch_fn eval_batch;
    PyObject *ndarray; /* numpy.ndarray: only exact instances take this path */
    Py_ssize_t ndim;
    Py_ssize_t shape[8];
    Py_ssize_t in_numel;
    Py_ssize_t out_numel;
    int out_kind;
    int out_scalar;     /* the output of one sample is shape (): return its element */
    PyObject *empty;    /* numpy.empty */
    PyObject *out_args;  /* (shape, dtype) for numpy.empty: one sample's output */
    PyObject *out_shape; /* one sample's output shape, a tuple */
    PyObject *out_dtype;
} DirectCall;

static void DirectCall_dealloc(DirectCall *self) {
    Py_XDECREF(self->ndarray);
    Py_XDECREF(self->empty);
    Py_XDECREF(self->out_args);
    Py_XDECREF(self->out_shape);
    Py_XDECREF(self->out_dtype);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* DirectCall(eval_address, eval_f32_address or 0, eval_batch_address, ndarray_type, sample_shape,
 *            out_numel, out_kind, empty, out_shape, out_dtype) */
static int DirectCall_init(DirectCall *self, PyObject *args, PyObject *Py_UNUSED(kwargs)) {
    unsigned long long eval_address, eval_f32_address, eval_batch_address;
    PyObject *ndarray, *shape, *empty, *out_shape, *out_dtype;
    Py_ssize_t out_numel;
    int out_kind;
    if (!PyArg_ParseTuple(args, "KKKOO!niOO!O", &eval_address, &eval_f32_address,
                          &eval_batch_address, &ndarray, &PyTuple_Type, &shape, &out_numel,
                          &out_kind, &empty, &PyTuple_Type, &out_shape, &out_dtype))
        return -1;
    if (!PyType_Check(ndarray) || eval_address == 0 || eval_batch_address == 0 ||
        out_kind < OUT_F64 || out_kind > OUT_BOOL || out_numel < 1 || PyTuple_GET_SIZE(shape) > 8) {
        PyErr_SetString(PyExc_ValueError, "DirectCall: invalid arguments");
        return -1;
    }
    self->eval = (eval_fn)(uintptr_t)eval_address;
    self->eval_f32 = (eval_f32_fn)(uintptr_t)eval_f32_address;
    self->eval_batch = (eval_batch_fn)(uintptr_t)eval_batch_address;
    self->ndim = PyTuple_GET_SIZE(shape);
    self->in_numel = 1;
    for (Py_ssize_t i = 0; i < self->ndim; i++) {
        self->shape[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, i));
        if (self->shape[i] < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "DirectCall: negative dimension");
            return -1;
        }
        self->in_numel *= self->shape[i];
    }
    self->out_numel = out_numel;
    self->out_kind = out_kind;
    self->out_scalar = PyTuple_GET_SIZE(out_shape) == 0;
    Py_XSETREF(self->ndarray, Py_NewRef(ndarray));
    Py_XSETREF(self->empty, Py_NewRef(empty));
    Py_XSETREF(self->out_shape, Py_NewRef(out_shape));
    Py_XSETREF(self->out_dtype, Py_NewRef(out_dtype));
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
static PyObject *returned(DirectCall *self, PyObject *out) {
    if (!self->out_scalar) return out;
    PyObject *empty_index = PyTuple_New(0);
    PyObject *element = empty_index ? PyObject_GetItem(out, empty_index) : NULL;
    Py_XDECREF(empty_index);
    Py_DECREF(out);
    return element;
}

/* n doubles from C as the output dtype, as numpy's astype converts them */
static void convert(int out_kind, const double *y, void *out, Py_ssize_t n) {
    switch (out_kind) {
    case OUT_F64:
        memcpy(out, y, (size_t)n * sizeof(double));
        break;
    case OUT_F32:
        for (Py_ssize_t i = 0; i < n; i++) ((float *)out)[i] = (float)y[i];
        break;
    case OUT_I64:
        for (Py_ssize_t i = 0; i < n; i++) ((int64_t *)out)[i] = (int64_t)y[i];
        break;
    default: /* OUT_BOOL: astype(bool), NaN included, is "not equal to 0" */
        for (Py_ssize_t i = 0; i < n; i++) ((unsigned char *)out)[i] = y[i] != 0.0;
        break;
    }
}

/* numpy.empty(shape, dtype) and its writable memory */
static PyObject *new_output(DirectCall *self, PyObject *shape_dtype, Py_buffer *view) {
    PyObject *out = PyObject_Call(self->empty, shape_dtype, NULL);
    if (out != NULL && PyObject_GetBuffer(out, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        Py_CLEAR(out);
    return out;
}

/* one sample's output from C's doubles, converted to the output dtype */
static PyObject *make_output(DirectCall *self, const double *y) {
    Py_buffer view;
    PyObject *out = new_output(self, self->out_args, &view);
    if (out == NULL) return NULL;
    convert(self->out_kind, y, view.buf, self->out_numel);
    PyBuffer_Release(&view);
    return returned(self, out);
}

/* a float64 batch of n > 0 rows: straight into the output when it is float64, else a chunk of
 * rows at a time into an L1-sized buffer and converted from there */
static PyObject *call_batch(DirectCall *self, const Py_buffer *x, Py_ssize_t n) {
    PyObject *lead = Py_BuildValue("(n)", n);
    PyObject *shape = lead ? PySequence_Concat(lead, self->out_shape) : NULL;
    PyObject *shape_dtype = shape ? PyTuple_Pack(2, shape, self->out_dtype) : NULL;
    Py_XDECREF(lead);
    Py_XDECREF(shape);
    if (shape_dtype == NULL) return NULL;
    Py_buffer y;
    PyObject *out = new_output(self, shape_dtype, &y);
    Py_DECREF(shape_dtype);
    if (out == NULL) return NULL;
    Py_ssize_t rows = self->out_numel >= CHUNK_ELEMENTS ? 1 : CHUNK_ELEMENTS / self->out_numel;
    double *chunk = NULL;
    if (self->out_kind != OUT_F64 &&
        (chunk = malloc((size_t)(rows * self->out_numel) * sizeof(double))) == NULL) {
        PyBuffer_Release(&y);
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    int64_t status = 0;
    const double *xs = (const double *)x->buf;
    Py_BEGIN_ALLOW_THREADS
    if (chunk == NULL) {
        status = self->eval_batch((int64_t)n, xs, (double *)y.buf);
    } else {
        size_t size = (size_t)y.itemsize; /* the output's element, as numpy.empty made it */
        for (Py_ssize_t first = 0; first < n && status >= 0; first += rows) {
            Py_ssize_t count = n - first < rows ? n - first : rows;
            int done = self->eval_batch((int64_t)count, xs + first * self->in_numel, chunk);
            status = done < 0 ? done : status + done;
            convert(self->out_kind, chunk, (char *)y.buf + (size_t)(first * self->out_numel) * size,
                    count * self->out_numel);
        }
    }
    Py_END_ALLOW_THREADS
    free(chunk);
    PyBuffer_Release(&y);
    if (status != 0) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    return out;
}

/* float32 in, float32 out through NAME_eval_f32: no conversion either way */
static PyObject *call_f32(DirectCall *self, const Py_buffer *view) {
    Py_buffer y;
    PyObject *out = new_output(self, self->out_args, &y);
    if (out == NULL) return NULL;
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

static PyObject *DirectCall_call(DirectCall *self, PyObject *args, PyObject *kwargs) {
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
    /* a batch: one more leading dimension, float64 rows, at least one of them */
    Py_ssize_t batch = view.ndim == self->ndim + 1 && kind == 'd' && view.shape[0] > 0;
    int matches = kind != 0 && view.ndim == self->ndim + batch;
    for (Py_ssize_t i = 0; matches && i < self->ndim; i++)
        matches = view.shape[i + batch] == self->shape[i];
    if (!matches) {
        result = Py_NewRef(Py_None);
    } else if (batch) {
        result = call_batch(self, &view, view.shape[0]);
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

static PyTypeObject DirectCallType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nnc.backends._direct_call.DirectCall",
    .tp_doc = PyDoc_STR("One plain numpy sample into NAME_eval, or a float64 batch into "
                        "NAME_eval_batch; None when the general path must take the call (another "
                        "kind of argument, or a non-zero status)."),
    .tp_basicsize = sizeof(DirectCall),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)DirectCall_init,
    .tp_dealloc = (destructor)DirectCall_dealloc,
    .tp_call = (ternaryfunc)DirectCall_call,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "nnc.backends._direct_call",
    .m_doc = PyDoc_STR("The calls of nnc's Python callables that go straight to C."),
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__direct_call(void) {
    if (PyType_Ready(&DirectCallType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "DirectCall", (PyObject *)&DirectCallType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
